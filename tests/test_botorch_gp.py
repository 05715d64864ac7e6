"""botorch-gp: proposals on the simplex, reproducible, initial design, observed noise, diagnostics."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modomodo import HistoryError, Mixture, Observation, UsageError, get_component

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

DOMAINS = ["a", "b", "c", "d"]
FAST = {"num_restarts": 2, "raw_samples": 64, "mc_samples": 32}


def score(w):
    return 0.5 - float(np.sum((w - np.array([0.1, 0.5, 0.3, 0.1])) ** 2))


def history(n, seed=0, stderr=None):
    rng = np.random.default_rng(seed)
    rows = []
    for w in rng.dirichlet(np.ones(len(DOMAINS)), n):
        scores = {"out_score": score(w) + rng.normal(0, 0.005)}
        if stderr is not None:
            scores["out_score_stderr"] = stderr
        rows.append(Observation(Mixture.normalised(zip(DOMAINS, w)), scores))
    return rows


def gp(seed=0, **options):
    return get_component("optimizers", "botorch-gp")(DOMAINS, seed=seed, **{**FAST, **options})


@pytest.mark.parametrize("acquisition", ["noisy-ei", "knowledge-gradient"])
def test_proposals_are_distinct_on_the_simplex_and_reproducible(acquisition):
    observed = history(12)
    first = gp(seed=3, acquisition=acquisition).propose(observed, 3)
    assert len(set(first)) == 3
    for mixture in first:
        assert list(mixture) == DOMAINS and min(mixture.values()) >= 0
        assert math.fsum(mixture.values()) == pytest.approx(1.0, abs=1e-9)
    assert gp(seed=3, acquisition=acquisition).propose(observed, 3) == first


def test_short_history_gets_the_initial_design():
    sobol = gp().propose([], 3)
    assert sobol[0] == Mixture.uniform(DOMAINS) and len(set(sobol)) == 3
    seeded = gp(initial="seed").propose([], 2)
    assert [m.vector(DOMAINS) for m in seeded] == [[1, 0, 0, 0], [0, 1, 0, 0]]


def test_design_then_model_fill_one_batch():
    # 4 observed, initial design of 5: one design point, then two from the GP.
    mixtures = gp(initial_size=5).propose(history(4), 3)
    assert len(set(mixtures)) == 3


def test_asking_twice_about_one_history_gives_the_answers_of_a_fresh_optimizer():
    observed = history(10)
    optimizer = gp(seed=2)
    proposal = optimizer.propose(observed, 2)
    assert optimizer.recommend(observed) == gp(seed=2).recommend(observed)  # the fit is reused, not the randomness
    assert optimizer.propose(observed, 2) == proposal


def test_two_fresh_processes_propose_the_same():
    # What a resumed study relies on: nothing but (seed, history) decides a proposal, not the process's state.
    script = ("import json, sys, torch; torch.set_num_threads(1); sys.path.insert(0, sys.argv[1]); "
              "import test_botorch_gp as t; print(json.dumps([m.vector(t.DOMAINS) for m in t.gp(seed=4).propose(t.history(9), 2)]))")
    answers = [subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": hash_seed}).stdout for hash_seed in "12"]
    assert len(json.loads(answers[0])) == 2 and answers[0] == answers[1]


def test_moves_toward_the_optimum():
    best = np.array([0.1, 0.5, 0.3, 0.1])
    proposal = gp().propose(history(20), 1)[0]
    assert np.abs(np.array(proposal.vector(DOMAINS)) - best).max() < 0.25


@pytest.mark.parametrize("noise", ["auto", "observed"])
def test_recorded_standard_errors_are_used_as_noise(noise):
    report = gp(noise=noise).diagnostics(history(12, stderr=0.02))
    assert report["noise_sd"] >= 0.02 * 0.99  # the recorded stderr is a floor on the model's noise


def test_observed_noise_requires_stderr_columns():
    with pytest.raises(HistoryError, match="out_score_stderr"):
        gp(noise="observed").propose(history(6), 1)


@pytest.mark.parametrize("kernel", ["auto", "scheffe-matern", "rbf"])
def test_diagnostics_has_leave_one_out_predictions_per_row(kernel):
    observed = history(15)
    report = gp(kernel=kernel).diagnostics(observed)
    assert len(report["loo_predictions"]) == 15
    assert report["r2"] > 0.5 and report["rmse"] < 0.05
    assert report["model"].startswith("SingleTaskGP, ")


def scheffe(w):
    """A Scheffe quadratic with a synergy (a, b) and a conflict (c, d): not a bowl around one point."""
    a, b, c, d = w
    return 0.40 + 0.05 * a + 0.02 * b + 0.04 * c + 0.01 * d + 0.30 * a * b - 0.25 * c * d


def scheffe_runs(count=16, seed=1):
    rng = np.random.default_rng(seed)
    points = np.vstack([np.eye(4), rng.dirichlet(np.ones(4), count - 4)])
    return [Observation(Mixture.normalised(zip(DOMAINS, w)), {"out_score": scheffe(w) + rng.normal(0, 0.002)})
            for w in points]


def test_the_scheffe_kernel_learns_a_known_quadratic_from_few_runs():
    rng = np.random.default_rng(1)
    observed = scheffe_runs()  # 16 runs for the quadratic's 10 terms
    flat = {"mean": "constant"}  # the kernel alone, without the quadratic prior mean
    quadratic = gp(kernel="scheffe-matern", **flat).diagnostics(observed)
    assert quadratic["r2"] > 0.95
    assert quadratic["r2"] > gp(kernel="rbf", **flat).diagnostics(observed)["r2"]
    assert gp(kernel="auto", **flat).diagnostics(observed)["model"].startswith("SingleTaskGP, scheffe-matern")
    anywhere = gp(kernel="scheffe-matern", **flat).recommend(observed)[1]
    grid = rng.dirichlet(np.ones(4), 20000)
    best = max(scheffe(w) for w in grid)
    assert scheffe(anywhere.mixture.vector(DOMAINS)) > best - 0.005


def test_the_evidence_model_gives_a_known_quadratic_to_its_quadratic_part():
    observed = scheffe_runs()  # 16 runs, noise sd 0.002: nearly all signal, and quadratic
    model, _ = gp(recommendation="evidence")._evidence_model(observed)
    quadratic, smooth = model.covar_module.kernels
    with torch.no_grad():
        quadratic_variance = float(quadratic(model.train_inputs[0]).to_dense().diagonal().mean())
    noise = float(model.likelihood.noise.mean())
    assert noise <= 0.1 and float(smooth.outputscale.detach()) < 0.1 * quadratic_variance  # the signal is the quadratic's
    anywhere = gp(recommendation="evidence").recommend(observed)[1]
    grid = np.random.default_rng(2).dirichlet(np.ones(4), 20000)
    assert scheffe(anywhere.mixture.vector(DOMAINS)) > max(scheffe(w) for w in grid) - 0.005


def test_the_evidence_model_learns_the_noise_from_repeated_runs():
    """Ten mixtures run three times each, noise sd 0.02 on a gentle surface: the repeats pin the noise down,
    and the noise the evidence model chooses from its grid of shares is about that."""
    rng = np.random.default_rng(5)
    observed = [Observation(Mixture.normalised(zip(DOMAINS, w)), {"out_score": score(w) + rng.normal(0, 0.02)})
                for w in rng.dirichlet(np.ones(4), 10) for _ in range(3)]
    model, _ = gp(recommendation="evidence")._evidence_model(observed)
    noise_sd = float(model.likelihood.noise.mean().sqrt() * model.outcome_transform.stdvs.squeeze())
    assert 0.01 < noise_sd < 0.04


def test_the_quadratic_prior_mean_is_the_quadratic_strategys_fit_and_helps_on_a_quadratic():
    observed = scheffe_runs()
    optimizer = gp()  # the default mean
    model, train_x = optimizer._model(observed)
    grid = torch.tensor(np.random.default_rng(2).dirichlet(np.ones(4), 50))
    prior_mean = model.outcome_transform.untransform(model.mean_module(grid).unsqueeze(-1))[0].squeeze(-1)
    coefficients = get_component("optimizers", "quadratic")(DOMAINS).diagnostics(observed)["coefficients"]
    by_hand = [coefficients["intercept"] + sum(coefficients[d] * w[i] for i, d in enumerate(DOMAINS))
               + sum(coefficients[f"{DOMAINS[i]}*{DOMAINS[j]}"] * w[i] * w[j]
                     for i in range(4) for j in range(i + 1, 4)) for w in grid.tolist()]
    assert prior_mean.detach().numpy() == pytest.approx(by_hand, abs=1e-9)
    with_mean = optimizer.diagnostics(observed)
    assert with_mean["model"].endswith("ridge quadratic prior mean")
    assert with_mean["rmse"] < gp(mean="constant").diagnostics(observed)["rmse"]


def test_a_quadratic_mean_needs_enough_runs_and_falls_back_to_a_constant():
    optimizer = gp()
    model, _ = optimizer._model(history(2))
    assert type(model.mean_module).__name__ == "ConstantMean"
    assert optimizer.diagnostics(history(2))["model"] == "SingleTaskGP, rbf kernel (one lengthscale), constant prior mean"


@pytest.mark.parametrize("lengthscales, count, named", [("shared", 1, "one lengthscale"),
                                                       ("per-domain", 4, "a lengthscale per domain")])
def test_one_lengthscale_for_all_domains_unless_one_per_domain_is_asked_for(lengthscales, count, named):
    optimizer = gp(lengthscales=lengthscales, mean="constant")
    model, _ = optimizer._model(history(12))
    assert model.covar_module.lengthscale.shape[-1] == count
    assert optimizer.diagnostics(history(12))["model"] == f"SingleTaskGP, rbf kernel ({named}), constant prior mean"


def test_a_proposal_is_never_worse_than_the_best_start_of_the_acquisition_search():
    from botorch.acquisition.analytic import PosteriorMean
    from botorch.utils.sampling import sample_simplex

    optimizer = gp(num_restarts=2, raw_samples=64)
    model, _ = optimizer._model(history(12))
    acquisition = PosteriorMean(model)
    best = optimizer._maximise_on_simplex(acquisition, 1, call_seed=5)
    starts = sample_simplex(4, 64, qmc=True, seed=5, dtype=torch.float64).unsqueeze(1)
    with torch.no_grad():
        assert acquisition(best.unsqueeze(0)).item() >= acquisition(starts).max().item() - 1e-12


@pytest.mark.parametrize("noise", ["inferred", "observed"])
def test_the_knowledge_gradient_is_the_gain_of_the_best_tried_mean_that_botorch_fantasies_give(noise):
    # The closed-form update of the means (cov(P, X) L^-T z) against BoTorch's own conditioning on simulated
    # noisy scores at X: the expected best posterior mean over the tried mixtures and X, minus today's best.
    # Six very noisy runs and a batch of the two best tried mixtures: the value is all in the noise, so a
    # noise term off in size or units fails.
    from botorch.sampling import SobolQMCNormalSampler
    from modomodo_plugins.botorch_gp.gp import TriedKnowledgeGradient

    rng = np.random.default_rng(1)
    runs = [Observation(Mixture.normalised(zip(DOMAINS, w)), {"out_score": score(w) + rng.normal(0, 0.05),
                                                              "out_score_stderr": 0.05})
            for w in rng.dirichlet(np.ones(len(DOMAINS)), 6)]
    model, tried = gp(mean="constant", noise=noise)._model(runs)
    with torch.no_grad():
        means = model.posterior(tried).mean.squeeze(-1)
    batch = tried[torch.topk(means, 2).indices]
    value = TriedKnowledgeGradient(model, tried, samples=4096, seed=1)(batch.unsqueeze(0)).item()
    fantasies = model.fantasize(batch, SobolQMCNormalSampler(torch.Size([4096]), seed=2))
    with torch.no_grad():
        gain = fantasies.posterior(tried).mean.max(dim=-2).values.mean() - means.max()
    assert value > 0 and value == pytest.approx(gain.item(), rel=0.02)


def test_bad_options_and_histories():
    with pytest.raises(UsageError, match="optimizer 'botorch-gp': option initial: expected one of 'sobol', 'seed', got 'lhs'"):
        gp(initial="lhs")
    with pytest.raises(UsageError, match="option lengthscales: expected one of 'shared', 'per-domain', got 'ard'"):
        gp(lengthscales="ard")
    with pytest.raises(UsageError, match="option acquisition: expected one of 'noisy-ei', 'knowledge-gradient', got 'ucb'"):
        gp(acquisition="ucb")
    with pytest.raises(UsageError, match="'restarts'.*num_restarts"):
        gp(restarts=3)
    broken = history(5)
    broken[2] = Observation(broken[2].mixture, {"out_score": float("nan")})
    with pytest.raises(HistoryError, match="row 3"):
        gp().propose(broken, 1)
