"""The paper's strategies: Algorithms 1-3 recomputed from their definitions, simplex invariants, bad histories."""

import math
import re

import numpy as np
import pytest

from modomodo import HistoryError, Mixture, Observation, UsageError, get_component

DOMAINS = ["coco", "lisa", "geoqav", "sat", "sciqa"]
# paper.md section 6.3: the 11 seed runs, (weights, In-Score, Out-Score).
SEED_ROWS = [
    ((1, 0, 0, 0, 0), 0.3254, 0.4589), ((0, 1, 0, 0, 0), 0.318, 0.4219), ((0, 0, 1, 0, 0), 0.2232, 0.4753),
    ((0, 0, 0, 1, 0), 0.199, 0.4915), ((0, 0, 0, 0, 1), 0.3274, 0.4263),
    ((0, .25, .25, .25, .25), 0.559, 0.5146), ((.25, 0, .25, .25, .25), 0.5432, 0.4783),
    ((.25, .25, 0, .25, .25), 0.5767, 0.4889), ((.25, .25, .25, 0, .25), 0.5463, 0.4721),
    ((.25, .25, .25, .25, 0), 0.4787, 0.493), ((.2, .2, .2, .2, .2), 0.5638, 0.4609),
]
ALL_STRATEGIES = ["uniform", "random", "seed", "alpha-in", "alpha-out", "alpha-bal", "coli", "norm",
                  "quad-surface", "quadratic"]


def history_of(rows):
    return [Observation(Mixture(dict(zip(DOMAINS, w))), {"in_score": i, "out_score": o}) for w, i, o in rows]


def perturbed(rows, seed=3):
    rng = np.random.default_rng(seed)
    return [(w, i + rng.normal(0, 0.02), o + rng.normal(0, 0.02)) for w, i, o in rows]


def propose(name, history, n=1, seed=0, **options):
    return get_component("optimizers", name)(DOMAINS, seed=seed, **options).propose(history, n)


def vector(mixture):
    return [mixture[d] for d in DOMAINS]


# ---- independent implementations straight from paper.md section 5.2 ---------------------------------

def alpha_by_definition(rows, alpha, alpha_single=1.0):
    sums_in, sums_out = [0.0] * 5, [0.0] * 5
    for w, s_in, s_out in rows:
        used = [i for i in range(5) if w[i] > 0]
        factor = alpha_single if len(used) == 1 else 1.0
        for i in used:
            sums_in[i] += factor * s_in
            sums_out[i] += factor * s_out

    def min_max(values):
        low, high = min(values), max(values)
        return [(v - low) / (high - low) for v in values]

    combined = [alpha * a + (1 - alpha) * b for a, b in zip(min_max(sums_in), min_max(sums_out))]
    return [c / sum(combined) for c in combined]


def coli_by_definition(rows, ridge=1e-3):
    x = np.array([[1.0 if v > 0 else 0.0 for v in w] for w, _, _ in rows])
    y = np.array([o for _, _, o in rows])
    inverse = np.linalg.inv(x.T @ x + ridge * np.eye(5))
    beta = inverse @ x.T @ y
    s = [max(beta[i] / inverse[i, i], 0.0) for i in range(5)]
    return [v / sum(s) for v in s]


def norm_by_definition(rows):
    excluded = {}
    for w, _, o in rows:
        zeros = [i for i in range(5) if w[i] == 0]
        if len(zeros) == 1:
            excluded[zeros[0]] = o
    low, high = min(excluded.values()), max(excluded.values())
    raw = [0.2 - 0.1 * (excluded[i] - low) / (high - low) for i in range(5)]
    return [r / sum(raw) for r in raw]


@pytest.mark.parametrize("rows", [SEED_ROWS, perturbed(SEED_ROWS)], ids=["paper", "perturbed"])
@pytest.mark.parametrize("name,alpha", [("alpha-in", 1.0), ("alpha-out", 0.0), ("alpha-bal", 0.5)])
def test_alpha_family_matches_algorithm_1(rows, name, alpha):
    assert vector(propose(name, history_of(rows))[0]) == pytest.approx(alpha_by_definition(rows, alpha), abs=1e-12)


def test_alpha_single_scales_single_dataset_runs():
    got = propose("alpha-bal", history_of(SEED_ROWS), alpha_single=0.3)[0]
    assert vector(got) == pytest.approx(alpha_by_definition(SEED_ROWS, 0.5, alpha_single=0.3), abs=1e-12)


@pytest.mark.parametrize("rows", [SEED_ROWS, perturbed(SEED_ROWS)], ids=["paper", "perturbed"])
def test_coli_matches_algorithm_2(rows):
    assert vector(propose("coli", history_of(rows))[0]) == pytest.approx(coli_by_definition(rows), abs=1e-12)


@pytest.mark.parametrize("rows", [SEED_ROWS, perturbed(SEED_ROWS)], ids=["paper", "perturbed"])
def test_norm_matches_algorithm_3(rows):
    assert vector(propose("norm", history_of(rows))[0]) == pytest.approx(norm_by_definition(rows), abs=1e-12)


def test_norm_on_the_paper_gives_coco_the_least_weight():
    # Excluding COCO gave the best Out-Score (0.5146), so COCO gets the minimum 0.1 before normalising.
    weights = propose("norm", history_of(SEED_ROWS))[0]
    assert min(weights, key=weights.get) == "coco"


def test_seed_design_is_the_papers_order_and_skips_what_was_run():
    design = propose("seed", [], n=11)
    assert [vector(m) for m in design] == [list(w) for w, _, _ in SEED_ROWS]
    rest = propose("seed", history_of(SEED_ROWS[:4]), n=3)
    assert [vector(m) for m in rest] == [list(w) for w, _, _ in SEED_ROWS[4:7]]
    assert len(propose("seed", history_of(SEED_ROWS[:9]), n=5)) == 2
    with pytest.raises(HistoryError, match="all 11 seed mixtures"):
        propose("seed", history_of(SEED_ROWS), n=1)


@pytest.mark.parametrize("name", ALL_STRATEGIES)
def test_proposals_lie_on_the_simplex_and_are_reproducible(name):
    history = [] if name in ("uniform", "random", "seed") else history_of(SEED_ROWS)
    first = propose(name, history, n=3, seed=5)
    assert 1 <= len(first) <= 3
    for mixture in first:
        assert list(mixture) == DOMAINS
        assert min(mixture.values()) >= 0
        assert math.fsum(mixture.values()) == pytest.approx(1.0, abs=1e-9)
    assert propose(name, history, n=3, seed=5) == first


@pytest.mark.parametrize("name", ["random", "quad-surface", "quadratic"])
def test_batch_proposals_are_distinct(name):
    history = history_of(SEED_ROWS)
    mixtures = propose(name, history, n=4)
    assert len(set(mixtures)) == 4


def test_quad_surface_says_so_when_its_gaussian_misses_the_simplex():
    domains = [f"d{i}" for i in range(12)]  # the seed design's Gaussian lands on this simplex about once in 22,000
    design = get_component("optimizers", "seed")(domains).propose([], 25)
    history = [Observation(mixture, {"out_score": 0.4 + 0.01 * i}) for i, mixture in enumerate(design)]
    with pytest.raises(HistoryError, match=r"of 1000 Gaussian samples fell on the simplex and 4 proposals were "
                                           r"asked for; raise the 'samples' option"):
        get_component("optimizers", "quad-surface")(domains, samples=1000).propose(history, 4)


def test_random_depends_on_the_seed():
    assert propose("random", [], n=2, seed=1) != propose("random", [], n=2, seed=2)


def test_quadratic_finds_the_maximum_of_a_known_quadratic():
    rng = np.random.default_rng(0)
    best = np.array([0.1, 0.4, 0.0, 0.3, 0.2])
    rows = []
    for w in list(rng.dirichlet(np.ones(5), 30)) + [np.eye(5)[i] for i in range(5)]:
        rows.append((tuple(w), 0.0, 0.5 - float(np.sum((w - best) ** 2))))
    found = np.array(vector(propose("quadratic", history_of(rows))[0]))
    assert np.abs(found - best).max() < 0.02


@pytest.mark.parametrize("name", ["quad-surface", "quadratic"])
def test_surrogates_report_leave_one_out_fit(name):
    history = history_of(perturbed(SEED_ROWS))
    report = get_component("optimizers", name)(DOMAINS).diagnostics(history)
    assert len(report["loo_predictions"]) == len(history)
    assert math.isfinite(report["rmse"]) and report["n"] == len(history)


def observation(weights, **scores):
    return Observation(Mixture(dict(zip(DOMAINS, weights))), scores)


@pytest.mark.parametrize("name", ["alpha-out", "coli", "norm", "quad-surface", "quadratic"])
def test_bad_histories_are_refused_with_the_row(name):
    good = history_of(SEED_ROWS)
    nan_row = good[:3] + [observation(SEED_ROWS[3][0], in_score=0.2, out_score=float("nan"))] + good[4:]
    with pytest.raises(HistoryError, match="row 4.*nan"):
        propose(name, nan_row)
    missing = good[:2] + [observation(SEED_ROWS[2][0], in_score=0.2)] + good[3:]
    with pytest.raises(HistoryError, match="row 3 has no 'out_score'"):
        propose(name, missing)
    stranger = good + [Observation(Mixture({"coco": 0.5, "chartqa": 0.5}), {"in_score": 0.1, "out_score": 0.4})]
    with pytest.raises(HistoryError, match="'chartqa' are not among"):
        propose(name, stranger)


@pytest.mark.parametrize("name,rows", [("quad-surface", 3), ("quadratic", 2), ("alpha-in", 0), ("coli", 0)])
def test_too_few_rows_is_a_history_error(name, rows):
    with pytest.raises(HistoryError, match="needs|empty"):
        propose(name, history_of(SEED_ROWS[:rows]))


def test_norm_needs_every_exclude_one_run():
    with pytest.raises(HistoryError, match="without 'sciqa'"):
        propose("norm", history_of(SEED_ROWS[:9] + SEED_ROWS[10:]))


def test_off_simplex_weights_cannot_become_an_observation():
    from modomodo import MixtureError

    with pytest.raises(MixtureError, match="sum to 1"):
        Mixture(dict(zip(DOMAINS, [0.5, 0.5, 0.5, 0, 0])))


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(UsageError, match=r"'ridg'.*valid options: ridge"):
        get_component("optimizers", "coli")(DOMAINS, ridg=1)


@pytest.mark.parametrize("options, message", [
    ({"concentration": 0}, "optimizer 'random': option concentration: expected a finite number > 0, got 0"),
    ({"ridge_grid": [1, 0.1, 5]}, "optimizer 'quadratic': option ridge_grid: expected [low, high, count]"),
    ({"splits": "5"}, "optimizer 'quad-surface': option splits: expected an integer, got '5'"),
    ({"spacin": 0.2}, "optimizer 'quadratic': unknown option(s) 'spacin' (did you mean 'spacing'?)"),
])
def test_options_are_typed_and_bounded(options, message):
    name = next(iter(message.split("'")[1:2]))
    with pytest.raises(UsageError, match=re.escape(message)):
        get_component("optimizers", name)(["a", "b", "c"], **options)
