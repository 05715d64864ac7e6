"""Partial trials: a trial scored at fractions of its run (``eval.at``), stopped part-way and continued later to
where a straight run would have ended, a budget in training steps, and the multi-fidelity strategy that uses
them (``halving-gp``)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modomodo import Mixture, Observation, PluginError, Run, get_component, hookimpl
from modomodo import OptimizerFactory
from modomodo.config import load_config, with_overrides
from modomodo.errors import ConfigError
from modomodo.ledger import Ledger, steps_spent
from modomodo.report import write_report
from modomodo.study import Study
from modomodo.trial import run_trial


def run_study(path: Path, **kwargs):
    return Study(load_config(path), path, **kwargs).run()


def segments(workdir: Path) -> list[list[int]]:
    """What each call of the echo trainer trained: [first step, last step]."""
    return [json.loads(line) for line in (workdir / "segments.jsonl").read_text().splitlines()]


class ContinueFirst:
    """A multi-fidelity strategy for tests: continue the oldest partial trial one point further, else start
    a new mixture (leaning on domain a, then b, ...) at the first point."""

    def __init__(self, domains, objective, seed):
        self.domains = domains

    def propose(self, history, n):
        return [Mixture.uniform(self.domains)] * n

    def propose_runs(self, history, n, fidelities):
        reached = {}
        for obs in history:
            reached[obs.trial] = max(reached.get(obs.trial, 0), obs.fidelity)
        partial = [(trial, f) for trial, f in reached.items() if f < 1]
        if partial:
            trial, f = partial[0]
            return [Run(Mixture.uniform(self.domains), next(x for x in fidelities if x > f), trial)]
        lean = self.domains[len(reached) % len(self.domains)]
        weights = {d: (0.6 if d == lean else 0.4 / (len(self.domains) - 1)) for d in self.domains}
        return [Run(Mixture(weights), fidelities[0])]


class ContinueFirstPlugin:
    @hookimpl
    def register_mixture_optimizers(self, register):
        register(OptimizerFactory(name="continue-first", create=ContinueFirst))


@pytest.fixture
def continue_first(temporary_plugin):
    temporary_plugin(ContinueFirstPlugin(), "continue-first-test")


def test_eval_at_scores_a_trial_at_each_point_with_its_step_count(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path, **{"budget = 5": "budget = 2", "steps = 3": "steps = 8",
                                     "max_new_tokens = 8": "max_new_tokens = 8\nat = [0.25, 0.5, 1.0]"})
    records = run_study(path)
    trial = next(r for r in records if r["role"] == "search")
    assert [(e["fraction"], e["step"]) for e in trial["evaluations"]] == [(0.25, 2), (0.5, 4), (1.0, 8)]
    assert trial["fidelity"] == 1.0 and trial["steps"] == 8
    assert trial["scores"] == trial["evaluations"][-1]["scores"]
    outs = [e["scores"]["out_score"] for e in trial["evaluations"]]
    assert outs == sorted(outs) and outs[0] < outs[-1]  # the echo policy gets better as it trains
    # the learning-rate schedule is the whole run's: the trainer was asked for stops of one 8-step run
    assert segments(tmp_path / "runs/echo/trials" / trial["id"]) == [[0, 2], [2, 4], [4, 8]]


def test_a_continued_trial_ends_where_a_straight_run_would(tmp_path, echo_plugin, write_config):
    config = with_overrides(load_config(write_config(tmp_path)), ["train.steps=8", "eval.at=[0.25, 0.5, 1.0]"])
    mixture = Mixture({"a": 0.5, "b": 0.3, "c": 0.2})
    straight = run_trial(config, mixture, 7, tmp_path / "straight")
    partial = run_trial(config, mixture, 7, tmp_path / "continued", fidelity=0.5)
    assert [e["fraction"] for e in partial.evaluations] == [0.25, 0.5]
    continued = run_trial(config, mixture, 7, tmp_path / "continued", fidelity=1.0)
    assert segments(tmp_path / "continued") == [[0, 2], [2, 4], [4, 8]]  # the last part only, from step 4
    assert continued.scores() == straight.scores()
    assert continued.evaluations == straight.evaluations
    assert continued.wall_time >= partial.wall_time  # the trial's time counts both parts


def test_a_multi_fidelity_study_starts_partial_trials_and_continues_them(tmp_path, echo_plugin, write_config,
                                                                         continue_first):
    path = write_config(tmp_path, **{"budget = 5": "budget_steps = 42", "steps = 3": "steps = 8",
                                     "max_new_tokens = 8": "max_new_tokens = 8\nat = [0.25, 0.5, 1.0]",
                                     'name = "random"': 'name = "continue-first"', "batch = 2": "batch = 1"})
    records = run_study(path)
    search = [r for r in records if r["role"] == "search"]
    assert search[0]["mixture"] == {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3} and search[0]["fidelity"] == 1.0
    continued = search[1]
    assert continued["fidelity"] == 1.0 and [e["step"] for e in continued["evaluations"]] == [2, 4, 8]
    assert segments(tmp_path / "runs/echo/trials" / continued["id"]) == [[0, 2], [2, 4], [4, 8]]
    lines = [json.loads(line) for line in (tmp_path / "runs/echo/trials.jsonl").read_text().splitlines()]
    assert [line["fidelity"] for line in lines if line["id"] == continued["id"]] == [0.25, 0.5, 1.0]
    assert steps_spent(records) >= 42 > steps_spent(records) - 8  # stops once the step budget is spent
    report = write_report(tmp_path / "runs/echo").read_text()
    assert "stopped part-way" in report and f"{steps_spent(records)} training steps spent" in report
    assert "ok at 25% of its steps" in report or "ok at 50% of its steps" in report
    assert (tmp_path / "runs/echo/best_by_steps.png").exists()


def test_an_interrupted_trial_or_continuation_goes_on_from_its_last_evaluation(tmp_path, echo_plugin, write_config,
                                                                              continue_first):
    path = write_config(tmp_path, **{
        "budget = 5": "budget_steps = 16", "steps = 3": "steps = 8",
        "max_new_tokens = 8": "max_new_tokens = 8\nat = [0.25, 0.5, 1.0]",
        'name = "random"': 'name = "continue-first"', "batch = 2": "batch = 1",
        "batch_size = 2": "batch_size = 2\noptions = { interrupt_at_step = 6 }"})  # once per trial folder
    trials = tmp_path / "runs/echo/trials"
    with pytest.raises(KeyboardInterrupt):
        run_study(path)  # uniform (0001) is stopped between its evaluations at steps 4 and 8
    with pytest.raises(KeyboardInterrupt):
        run_study(path)  # 0002 is stopped while being continued from step 4 to 8
    partial = Ledger(tmp_path / "runs/echo/trials.jsonl").records()[-1]
    assert (partial["id"], partial["status"], partial["fidelity"]) == ("0002", "ok", 0.5)  # still its record
    records = run_study(path)
    for trial_id in ("0001", "0002"):
        assert segments(trials / trial_id) == [[0, 2], [2, 4], [4, 8]]  # each rerun trained from step 4 only
        record = next(r for r in records if r["id"] == trial_id)
        assert record["status"] == "ok" and [e["step"] for e in record["evaluations"]] == [2, 4, 8]


def test_a_trainer_that_cannot_stop_part_way_is_refused_before_the_study(tmp_path, echo_plugin, write_config,
                                                                        monkeypatch):
    monkeypatch.delattr(type(echo_plugin.EchoTrainer()), "partial_runs")
    path = write_config(tmp_path, **{"max_new_tokens = 8": "max_new_tokens = 8\nat = [0.5, 1.0]"})
    with pytest.raises(ConfigError, match=r"eval.at = \[0.5, 1.0\]: trainer 'echo' cannot stop a run part-way"):
        run_study(path)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("at", ["[0.5]", "[0.5, 0.25, 1.0]", "[0, 1.0]", "[1.5]", "[]"])
def test_eval_at_must_be_increasing_fractions_ending_at_the_end(tmp_path, write_config, at):
    path = write_config(tmp_path, **{"max_new_tokens = 8": f"max_new_tokens = 8\nat = {at}"})
    with pytest.raises(ConfigError, match=r"eval.at: expected increasing fractions"):
        load_config(path)


def test_continuations_a_strategy_cannot_ask_for_are_named(tmp_path, echo_plugin):
    from modomodo.optimizers import checked_runs

    partial = [{"id": "0003", "mixture": {"a": 0.5, "b": 0.5}, "fidelity": 0.5}]
    domains, at = ["a", "b"], [0.25, 0.5, 1.0]
    mixture = Mixture({"a": 0.5, "b": 0.5})
    assert checked_runs("x", [Run(mixture, 1.0, "0003")], domains, at, partial) == [Run(mixture, 1.0, "0003")]
    for runs, message in [([Run(mixture, 0.75)], "a fidelity in eval.at"),
                          ([Run(mixture, 0.5, "0003")], "trained to 0.5"),
                          ([Run(mixture, 1.0, "0009")], "no successful search trial"),
                          ([Run(mixture, 1.0, "0003")] * 2, "twice in one round")]:
        with pytest.raises(PluginError, match=message):
            checked_runs("x", runs, domains, at, partial)


# ---- halving-gp ------------------------------------------------------------------------------------------

DOMAINS = ["d0", "d1", "d2"]
AT = [0.25, 0.5, 1.0]


def _history(final, early, points, reached, rng, noise=0.002):
    """Observations of trials at ``points`` (3-domain weights), each evaluated up to ``reached[i]``."""
    history = []
    for index, (w, top) in enumerate(zip(points, reached)):
        for r in AT:
            if r <= top:
                score = final(w) if r == 1 else early(w, r)
                history.append(Observation(Mixture(dict(zip(DOMAINS, w))), {"out_score": score + rng.normal(0, noise)},
                                           r, f"t{index}"))
    return history


def _final(w):
    return 0.5 - 0.2 * float(np.sum((np.asarray(w) - np.array([0.6, 0.3, 0.1])) ** 2))


def test_halving_gp_audits_trials_to_learn_whether_early_scores_can_be_trusted():
    from modomodo_plugins.botorch_gp.halving import _trials

    optimizer = get_component("optimizers", "halving-gp")(DOMAINS, seed=0)  # audit_every = 3
    assert [order for order in range(12) if optimizer.is_audit(order)] == [0, 1, 2, 3, 6, 9]
    rng = np.random.default_rng(0)
    points = rng.dirichlet(np.ones(3), 8)
    reached = [1.0, 1.0, 1.0, 1.0, 0.25, 0.25, 1.0, 0.25]
    history = _history(_final, lambda w, r: _final(w) - 0.02 * (1 - r), points, reached, rng)
    no_continuations = get_component("optimizers", "halving-gp")(DOMAINS, seed=0, eta=16)
    # trials 8 and 9 come next: 8 stops first at 25% (trusted), 9 is an audit and trains to the end
    assert [run.fidelity for run in no_continuations.propose_runs(history, 2, AT)] == [0.25, 1.0]
    trials = _trials(history, "out_score")
    correlation, audits = optimizer.early_correlation(trials, 0.25)
    assert audits == 5 and correlation > 0.9
    assert optimizer.start_fidelity(trials, AT) == 0.25
    assert optimizer.start_fidelity(trials[:3], AT) == 1.0  # three audits are not enough to trust anything


def test_halving_gp_trains_new_trials_to_the_end_when_early_scores_mislead():
    from modomodo_plugins.botorch_gp.halving import _trials

    rng = np.random.default_rng(1)
    points = rng.dirichlet(np.ones(3), 10)

    def early(w, r):  # the early score ranks mixtures backwards
        return 0.5 - (_final(w) - 0.5) * (1 - r) / 0.75 * 3 + (_final(w) - 0.5) * (r - 0.25) / 0.75

    history = _history(_final, early, points, [1.0] * 10, rng)
    optimizer = get_component("optimizers", "halving-gp")(DOMAINS, seed=0)
    trials = _trials(history, "out_score")
    assert optimizer.early_correlation(trials, 0.5)[0] < 0
    assert optimizer.start_fidelity(trials, AT) == 1.0
    assert all(run.fidelity == 1.0 for run in optimizer.propose_runs(history, 3, AT))


def test_halving_gp_continues_the_top_half_of_a_point_and_recommends_a_trial_trained_to_the_end():
    rng = np.random.default_rng(2)
    points = [np.array(p) for p in ([0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.2, 0.7, 0.1], [0.0, 0.0, 1.0],
                                    [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0])]
    history = _history(_final, lambda w, r: _final(w) - 0.02 * (1 - r), points, [0.25, 0.25, 0.25, 0.25, 1.0, 1.0],
                       rng)
    optimizer = get_component("optimizers", "halving-gp")(DOMAINS, seed=0)
    runs = optimizer.propose_runs(history, 2, AT)
    # six trials reached 0.25, so the top three may go on: t0, t5 and t4 (uniform); of those only t0 is partial,
    # so the second run is a new trial (the seventh: an audit, trained to the end)
    assert [(run.trial, run.fidelity) for run in runs] == [("t0", 0.5), (None, 1.0)]
    pick = optimizer.recommend(history, over_simplex=False)[0]
    assert pick.mixture in (Mixture(dict(zip(DOMAINS, points[4]))), Mixture(dict(zip(DOMAINS, points[5]))))


@pytest.mark.slow
def test_partial_trials_on_the_embedded_testbed_through_modomodo_run(tmp_path):
    """eval.at and continuation end to end: the real trainer stops at half its run, continues, and ends
    exactly where a run straight through ends; then a halving-gp study through the CLI."""
    text = (Path(__file__).parents[1] / "examples/quickstart.toml").read_text()
    for old, new in {'output_dir = "runs"': f'output_dir = "{tmp_path / "runs"}"',
                     "budget = 14": "budget_steps = 24\nevaluate_base = false",
                     "confirm_seeds = 2": "confirm_seeds = 0", "steps = 100": "steps = 4",
                     "limit = 500": "limit = 16\nat = [0.5, 1.0]", 'name = "botorch-gp"': 'name = "halving-gp"',
                     'initial = "seed"': 'initial = "none"\noptions = { trust = -1.0 }'}.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "study.toml"
    path.write_text(text)
    config = load_config(path)
    mixture = Mixture.uniform(config.domain_names)
    straight = run_trial(config, mixture, 3, tmp_path / "straight")
    run_trial(config, mixture, 3, tmp_path / "continued", fidelity=0.5)
    assert (tmp_path / "continued/resume/trainer_state.json").is_file()
    continued = run_trial(config, mixture, 3, tmp_path / "continued")
    assert not (tmp_path / "continued/resume").exists()  # a finished trial keeps no optimizer state
    assert continued.per_example == straight.per_example
    assert continued.evaluations == straight.evaluations

    done = subprocess.run([str(Path(sys.executable).with_name("modomodo")), "run", str(path)], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in (tmp_path / "runs/quickstart/trials.jsonl").read_text().splitlines()]
    assert [line["fidelity"] for line in lines[:5]] == [1.0, 1.0, 1.0, 1.0, 0.5]  # four audits, then partial
    assert all([e["step"] for e in line["evaluations"]] == [2, 4][: len(line["evaluations"])] for line in lines)
    assert sum(line["steps"] for line in Ledger(tmp_path / "runs/quickstart/trials.jsonl").records()) >= 24
    assert "Recommended mixture" in (tmp_path / "runs/quickstart/report.md").read_text()


def test_train_prints_the_scores_on_the_way(tmp_path, echo_plugin, write_config):
    from click.testing import CliRunner

    from modomodo.cli import _add_commands, cli

    _add_commands()
    config = write_config(tmp_path, **{"steps = 3": "steps = 4",
                                       "max_new_tokens = 8": "max_new_tokens = 8\nat = [0.5, 1.0]"})
    result = CliRunner().invoke(cli, ["train", str(config), "--mixture", "a=1", "--show", "0"])
    assert result.exit_code == 0, result.output
    assert "on the way (eval.at): 50% (step 2): In " in result.output and "100% (step 4)" in result.output
