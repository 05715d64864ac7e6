"""The benchmark scripts run end to end and save what they say (here on the echo stand-in trainer)."""

import json
import os
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def keep_blas_environment(monkeypatch) -> None:
    """The scripts pin BLAS threads in the environment for their own processes; undone after the test, so the
    subprocesses of later tests get this process's settings."""
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if variable in os.environ:
            monkeypatch.setenv(variable, os.environ[variable])  # restored to this value after the test
        else:
            monkeypatch.setenv(variable, "1")  # recorded as absent, so removed again after the test
            monkeypatch.delenv(variable)


@pytest.fixture
def optimizers(monkeypatch):
    """benchmarks/optimizers.py as a module, with the BLAS environment it pins undone after the test."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    keep_blas_environment(monkeypatch)
    import optimizers

    return optimizers


def run_script(monkeypatch, script: str, *args: str) -> None:
    """Run ``benchmarks/<script>`` as ``python benchmarks/<script> args...`` would, in this process."""
    monkeypatch.setattr(sys, "argv", [script, *args])
    keep_blas_environment(monkeypatch)
    try:
        runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    except SystemExit as done:
        assert not done.code


def regret_run(strategy: str, instance: int, recommended: list[float], observed: list[float] | None = None,
               **panel) -> dict:
    """One cached benchmark run as ``run_one`` returns it: the recommendation's true regret per trial and the
    best observed mixture's (the same unless given), on a panel that defaults to five domains, batch 1."""
    observed = recommended if observed is None else observed
    return {"family": "quadratic", "m": 5, "batch": 1, "noise": 0.01, "protocol": "own", **panel,
            "instance": instance, "strategy": strategy, "regret": observed, "recommended_regret": recommended,
            "in_sample_regret": observed, "proposal_seconds": []}


def test_testbed_signal_quick_saves_the_panel_anova_and_margin(tmp_path, echo_plugin, write_config, monkeypatch,
                                                                capsys):
    output = tmp_path / "signal"
    run_script(monkeypatch, "testbed_signal.py", "--quick", "--config", str(write_config(tmp_path)),
               "--output", str(output))

    saved = json.loads(output.with_suffix(".json").read_text())
    # quick panel: uniform, the first two single domains, one Dirichlet draw; 2 seeds each
    assert list(saved["panel"]) == ["uniform", "only a", "only b", "dirichlet 1"]
    assert all(len(trials) == 2 for trials in saved["trials"].values())
    assert len(saved["rl_effect_in_score_per_seed"]) == 2
    # the echo trainer's Out benchmark needs domain b: "only b" wins, and the mixture explains Out
    assert saved["best_mixture"] == "only b" and saved["best_margin_over_uniform_out"] > 0
    assert saved["anova_out_score"]["F"] > 4 and set(saved["anova_F_by_score"]) == {"in_score", "in-a", "out-b"}
    assert output.with_suffix(".png").stat().st_size > 1000
    # the transfer matrix: each single domain minus the base, per score, with a standard error over seeds
    transfer = saved["transfer_matrix"]
    assert set(transfer) == {"a", "b"} and transfer["b"]["out-b"]["mean"] > 0 and transfer["b"]["out-b"]["stderr"] >= 0
    assert output.with_name("signal_transfer.png").stat().st_size > 1000
    assert "ANOVA on Out-Score" in capsys.readouterr().out


def test_testbed_signal_says_how_well_early_evaluations_rank_the_final_ones(tmp_path, echo_plugin, write_config,
                                                                            monkeypatch):
    output = tmp_path / "signal"
    run_script(monkeypatch, "testbed_signal.py", "--quick", "--config", str(write_config(tmp_path)),
               "--set", "eval.at=[0.5, 1.0]", "--output", str(output))

    early = json.loads(output.with_suffix(".json").read_text())["early_vs_final"]
    assert list(early) == ["0.5"] and early["0.5"]["trials"] == 8 and early["0.5"]["mixtures"] == 4
    assert early["0.5"]["spearman_mixtures"] > 0.5  # the echo policy half-trained ranks mixtures as trained


def test_multifidelity_benchmark_saves_regret_against_steps(tmp_path, monkeypatch):
    run_script(monkeypatch, "multifidelity.py", "--families", "quadratic", "--rho", "0.8", "--seeds", "1",
               "--budget", "4", "--workers", "1", "--results", str(tmp_path), "--cache", "")

    saved = json.loads((tmp_path / "multifidelity.json").read_text())
    assert set(saved["summary"]) == {"quadratic/rho=0.8/botorch-gp", "quadratic/rho=0.8/halving-gp"}
    assert all(len(entry["median"]) == 4 for entry in saved["summary"].values())
    assert "| quadratic | 0.8 |" in saved["table"] and (tmp_path / "multifidelity.png").exists()


def test_rl_effect_saves_paired_gains_per_seed(tmp_path, echo_plugin, write_config, monkeypatch):
    output = tmp_path / "rl_effect.json"
    run_script(monkeypatch, "rl_effect.py", "--config", str(write_config(tmp_path)), "--seeds", "2",
               "--set", "train.steps=2", "--output", str(output))

    saved = json.loads(output.read_text())
    assert saved["overrides"] == ["train.steps=2"]
    assert [run["seed"] for run in saved["runs"]] == [0, 1]
    assert all(run["train_metrics"]["steps"] == 2 for run in saved["runs"])
    gain = saved["runs"][0]["gain"]["out_score"]
    assert gain["paired_stderr"] > 0
    # the echo base knows no domain, uniform training does: a positive gain
    assert saved["summary"]["out_score"]["min_gain"] > 0


@pytest.mark.slow
def test_base_skills_scores_every_question_type_of_the_shipped_base(tmp_path, monkeypatch):
    output = tmp_path / "skills.json"
    run_script(monkeypatch, "base_skills.py", "--rows", "12", "--sample-rows", "4", "--output", str(output))
    saved = json.loads(output.read_text())
    tasks = {row["source"] for row in saved["by_task"].values()}
    assert {"synth-spatial", "synth-compose", "synth-perception", "dots-parity"} <= tasks
    for row in saved["by_task"].values():
        assert 0 <= row["greedy"] <= 1 and 0 <= row["best_constant"] <= 1 and row["rows"] >= 1


def test_child_overhead_times_the_same_trial_both_ways(tmp_path, echo_plugin, write_config, monkeypatch):
    output = tmp_path / "child_overhead.json"
    run_script(monkeypatch, "child_overhead.py", "--config", str(write_config(tmp_path)), "--pairs", "1",
               "--output", str(output))

    saved = json.loads(output.read_text())
    assert len(saved["inline_seconds"]) == len(saved["child_seconds"]) == 2
    assert saved["same_scores"] is True  # the echo trainer is deterministic: a child changes nothing
    assert {"overhead_percent", "first_pair_child_minus_inline_seconds", "target_percent"} <= set(saved)


def test_optimizer_regret_scores_the_recommendation_and_the_best_observed(tmp_path, monkeypatch):
    run_script(monkeypatch, "optimizers.py", "--dims", "3", "--families", "quadratic", "--strategies", "random",
               "quadratic", "--batches", "2", "--seeds", "2", "--budget", "10", "--noise", "0.02", "--protocols",
               "paper", "--workers", "1", "--results", str(tmp_path), "--cache", str(tmp_path / "cache"))

    summary = json.loads((tmp_path / "optimizers.json").read_text())["summary"]
    random = summary["quadratic/m=3/batch=2/noise=0.02/paper/random"]
    quadratic = summary["quadratic/m=3/batch=2/noise=0.02/paper/quadratic"]
    assert random["median_recommended"] == random["median"]  # no model: it recommends the best observed
    assert len(quadratic["median_recommended"]) == 10 and quadratic["seeds"] == 2
    assert all(0 <= r < 0.2 for r in quadratic["median_recommended"])  # true regrets on the paper's scale
    assert len(list((tmp_path / "cache").iterdir())) == 4  # one cached run per (strategy, seed)
    assert (tmp_path / "optimizers.png").stat().st_size > 1000


def test_a_recommendation_option_replays_the_cached_proposals(tmp_path, optimizers, monkeypatch):
    """botorch-gp options that change only the recommendation reuse a cached run's proposals: the same
    history, and the recommendations computed anew (with the default spelled out, exactly the cached ones)."""
    job = {"family": "multimodal", "m": 3, "instance": 0, "strategy": "botorch-gp", "batch": 2, "budget": 8,
           "noise": 0.02, "protocol": "own", "gp_options": {"num_restarts": 2, "raw_samples": 32},
           "cache": str(tmp_path)}
    proposed = optimizers.run_one(job)
    from modomodo_plugins.botorch_gp.gp import GaussianProcessOptimizer

    monkeypatch.setattr(GaussianProcessOptimizer, "propose", lambda *args: pytest.fail("proposed again"))
    spelled_out = optimizers.run_one({**job, "gp_options": {**job["gp_options"], "recommendation": "proposal-model"}})
    assert spelled_out["history"] == proposed["history"]
    assert spelled_out["recommended_regret"] == proposed["recommended_regret"]
    assert spelled_out["proposal_seconds"] == proposed["proposal_seconds"]
    evidence = optimizers.run_one({**job, "gp_options": {**job["gp_options"], "recommendation": "evidence"}})
    assert evidence["history"] == proposed["history"] and len(evidence["recommended_regret"]) == 8
    assert len(list(tmp_path.iterdir())) == 3  # each cached under its own options


def test_the_default_replays_proposals_cached_under_a_recommendation_option(tmp_path, optimizers, monkeypatch):
    """A run made with only a recommendation option set serves the default's proposals too, so the two are
    compared on the same mixtures; a run whose proposals would differ is not replayed."""
    proposing = {"num_restarts": 2, "raw_samples": 32}
    job = {"family": "multimodal", "m": 3, "instance": 0, "strategy": "botorch-gp", "batch": 2, "budget": 8,
           "noise": 0.02, "protocol": "own", "gp_options": {**proposing, "confidence_over_uniform": 0.9},
           "cache": str(tmp_path)}
    guarded = optimizers.run_one(job)
    from modomodo_plugins.botorch_gp.gp import GaussianProcessOptimizer

    monkeypatch.setattr(GaussianProcessOptimizer, "propose", lambda *args: pytest.fail("proposed again"))
    default = optimizers.run_one({**job, "gp_options": proposing})
    assert default["history"] == guarded["history"] and default["gp_options"] == proposing
    with pytest.raises(pytest.fail.Exception, match="proposed again"):
        optimizers.run_one({**job, "gp_options": {**proposing, "num_restarts": 3}})


def test_trials_to_target_comes_with_its_spread_over_seeds(optimizers):

    falling = np.linspace(0.02, 0.0, 30)  # reaches 0.005 at trial 23
    same_every_seed = np.tile(falling, (8, 1))
    assert optimizers.trials_to_target_interval(same_every_seed) == [23, 23]
    assert optimizers.trials_to_target_interval(same_every_seed + 0.1) == [None, None]  # never, in every resample
    spread = same_every_seed + np.linspace(-0.004, 0.004, 8)[:, None]
    low, high = optimizers.trials_to_target_interval(spread)
    assert low < 23 < high


def test_paired_table_counts_the_instances_where_botorch_gp_recommends_better(tmp_path, optimizers):

    def run(strategy, protocol, instance, final):
        return regret_run(strategy, instance, [0.03] * 14 + [final] * 16, noise=0.02, protocol=protocol)

    gp = [run("botorch-gp", "own", i, 0.001 * i) for i in range(10)]  # instance 9: 0.009
    rival = [run("quadratic", "own", i, 0.005) for i in reversed(range(10))]  # lists need not be in instance order
    worse = [run("random", "own", i, 0.02) for i in range(10)]
    path = tmp_path / "results.json"
    summary = optimizers.summarise(gp + rival + worse, [15, 30])
    path.write_text(json.dumps({"settings": {"gp_options": "{}"}, "summary": summary}))

    table = optimizers.paired_table([str(path)])
    row = next(line for line in table.splitlines() if "| quadratic | 5 | 1 | 0.02 | default, own | quadratic |" in line)
    assert row.endswith("| 5 / 4 (1.000) | 5 / 4 (1.000) |")  # instances 0-4 lower, 6-9 higher, 5 equal
    assert "against quadratic after 30 trials: botorch-gp lower on significantly more instances (sign test p < " \
           "0.05) in 0 of 1 comparisons, quadratic in 0" in table
    assert "against random after 30 trials: botorch-gp lower on significantly more instances (sign test p < " \
           "0.05) in 1 of 1 comparisons, random in 0" in table  # lower on all 10: p = 0.002

    stale = json.loads(path.read_text())
    for entry in stale["summary"].values():
        del entry["recommended_per_seed"]
    path.write_text(json.dumps(stale))
    with pytest.raises(SystemExit, match="made before per-seed regrets were saved"):
        optimizers.paired_table([str(path)])


def test_tables_read_a_longer_budget_at_its_end_as_well(tmp_path, optimizers):
    """A suite run past 30 trials is read at 15, 30 and its budget: its last trials are what it was run for."""
    gp = [regret_run("botorch-gp", i, [0.03] * 30 + [0.004] * 10, m=8) for i in range(6)]
    rival = [regret_run("quad-surface", i, [0.02] * 40, m=8) for i in range(6)]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"settings": {"gp_options": "{}"},
                                "summary": optimizers.summarise(gp + rival, [15, 30, 40])}))

    table = optimizers.markdown_table([str(path)])
    assert "| after 15: recommended / observed | after 30: recommended / observed | after 40: recommended / " \
           "observed | trials to target |" in table
    assert "| botorch-gp (default) | 0.0300 / 0.0300 | 0.0300 / 0.0300 | 0.0040 / 0.0040 | 31 / 31 |" in table
    paired = optimizers.paired_table([str(path)])
    assert "| 0 / 6 (0.031) | 0 / 6 (0.031) | 6 / 0 (0.031) |" in paired  # behind until 30, ahead at 40
    assert "| after 30: default lower / higher (p) | after 40: default lower / higher (p) |" in \
        optimizers.versus_table(str(path), str(path))


def test_gaps_give_the_trials_to_target_difference_with_its_spread_over_instances(tmp_path, optimizers):

    def run(strategy, instance, reached_at):
        return regret_run(strategy, instance, [0.02] * (reached_at - 1) + [0.001] * (31 - reached_at),
                          family="mixing-law")

    # botorch-gp one trial ahead on every instance, though the instances themselves differ by four trials
    gp = [run("botorch-gp", i, 18 if i % 2 else 22) for i in range(12)]
    close = [run("quad-surface", i, 19 if i % 2 else 23) for i in reversed(range(12))]  # any order of instances
    behind = [run("random", i, 31) for i in range(12)]  # never
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"settings": {"gp_options": "{}"},
                                "summary": optimizers.summarise(gp + close + behind, [15, 30])}))

    rows = {line.split(" | ")[5]: line for line in optimizers.gaps_table([str(path)]).splitlines()[2:]}
    assert rows["quad-surface"].endswith("| 22 / 23 | -1 | -1 to -1 |")  # resampled in pairs: always one ahead
    assert "random" not in rows  # a rival that never reaches the target sets no mark to compare with
    never, at_twenty = (np.array([run("random", i, t)["recommended_regret"] for i in range(12)]) for t in (31, 20))
    assert optimizers.trials_to_target_gap(never, at_twenty) == (11, [11, 11])  # not reached counts as 31

    stale = json.loads(path.read_text())
    for entry in stale["summary"].values():
        del entry["recommended_per_trial"]
    path.write_text(json.dumps(stale))
    with pytest.raises(SystemExit, match="made before per-trial regrets were saved"):
        optimizers.gaps_table([str(path)])


def test_versus_table_compares_two_settings_of_botorch_gp_on_the_same_instances(tmp_path, optimizers):

    def results(name, options, finals):
        runs = [regret_run("botorch-gp", i, [0.03] * 15 + [final] * 15, family="mixing-law", m=8, batch=4)
                for i, final in enumerate(finals)]
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"settings": {"gp_options": json.dumps(options)},
                                    "summary": optimizers.summarise(runs, [15, 30])}))
        return str(path)

    shared = results("shared", {}, [0.001] * 9 + [0.02])
    per_domain = results("per-domain", {"lengthscales": "per-domain"}, [0.01] * 10)
    table = optimizers.versus_table(shared, per_domain)
    assert "| mixing-law | 8 | 4 | 0.01 | own | 0 / 0 (1.000) | 9 / 1 (0.021) |" in table  # all equal after 15
    assert table.endswith("- after 30 trials: botorch-gp (default) lower on significantly more instances (sign test "
                          "p < 0.05) in 1 of 1 comparisons, botorch-gp (lengthscales per-domain) in 0")


def test_target_checks_name_the_trials_behind_uniform_and_count_those_ahead_of_the_best_observed(tmp_path,
                                                                                                   optimizers):

    def run(strategy, recommended, observed):
        return regret_run(strategy, 0, recommended, observed, family="multimodal", m=8, batch=4, noise=0.02)

    gp_recommended = [0.03] * 11 + [0.025] + [0.01] * 18  # behind uniform (0.02) at trials 10, 11 and 12
    gp_observed = [0.03] * 11 + [0.025] + [0.01] * 8 + [0.02] * 10  # best observed behind from trial 21
    runs = [run("botorch-gp", gp_recommended, gp_observed), run("uniform", [0.02] * 30, [0.02] * 30)]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"settings": {"gp_options": "{}"}, "summary": optimizers.summarise(runs, [15, 30])}))

    row = optimizers.target_checks([str(path)]).splitlines()[-1]
    assert row == "| multimodal | 8 | 4 | 0.02 | own | default | 10, 11, 12 | 10 of 16 |"


def test_the_docs_regret_section_is_its_template_filled_from_the_committed_results(optimizers):
    """Every table, count and check in the section comes from the results files: `--docs` rewrites it, and a
    results file rerun without rerunning `--docs` fails here."""
    docs = optimizers.DOCS.read_text()
    template = optimizers.SECTION_TEMPLATE.read_text()

    assert optimizers.docs_section(docs) == optimizers.regret_section(template), \
        "docs/optimizers.md's regret section is stale: run python benchmarks/optimizers.py --docs"
    named = {name for marker in optimizers.TEMPLATE_MARKER.finditer(template) for name in marker.group(2).split()}
    committed = {path.name for path in optimizers.RESULTS.glob("optimizers-m*.json")}
    assert committed <= named, f"results files the docs do not show: {sorted(committed - named)}"


def test_the_docs_template_says_which_marker_or_results_file_it_cannot_fill(optimizers):

    with pytest.raises(SystemExit, match=r"unknown marker \{\{tables:\.\.\.\}\}; expected one of table, table-gp"):
        optimizers.regret_section("{{tables:optimizers-m5.json}}")
    with pytest.raises(SystemExit, match=r"\{\{table:\.\.\.\}\} names optimizers-m7\.json, not in .*run the suite"):
        optimizers.regret_section("{{table:optimizers-m5.json optimizers-m7.json}}")
