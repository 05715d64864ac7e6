"""The study loop: budget, resume, refusal of incompatible configs, failures, interrupts, crash safety, Ray.

These run the real study, ledger, executors and report with a fast deterministic stand-in trainer
(tests/fixtures/echo_plugin.py); test_end_to_end.py runs the same loop with the real TRL trainer.
"""

import json
import math
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modomodo.config import load_config
from modomodo.errors import ConfigError
from modomodo.ledger import Ledger
from modomodo.mixture import Mixture
from modomodo.report import write_report
from modomodo.study import Study

FIXTURES = Path(__file__).parent / "fixtures"


def run_study(path: Path, **kwargs):
    return Study(load_config(path), path, **kwargs).run()


def search_ids(records):
    return [r["id"] for r in records if r["role"] == "search" and r["status"] == "ok"]


def test_runs_the_budget_starting_with_uniform_then_resumes_without_rerunning(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path)
    records = run_study(path)
    assert search_ids(records) == ["0001", "0002", "0003", "0004", "0005"]
    assert records[0]["id"] == "base" and records[0]["status"] == "ok"
    first = [r for r in records if r["role"] == "search"][0]
    assert Mixture(first["mixture"]) == Mixture.uniform(["a", "b", "c"])
    assert {"in_score", "out_score", "in_score_stderr", "out_score_stderr", "in-a", "out-b_stderr"} <= set(first["scores"])
    ledger_text = (tmp_path / "runs/echo/trials.jsonl").read_text()

    assert run_study(path) == records  # nothing left to do: nothing re-run
    assert (tmp_path / "runs/echo/trials.jsonl").read_text() == ledger_text

    bigger = write_config(tmp_path, **{"budget = 5": "budget = 7"})
    more = run_study(bigger)
    assert search_ids(more) == search_ids(records) + ["0006", "0007"]


def test_same_seed_same_study(tmp_path, echo_plugin, write_config):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    strip = lambda records: [(r["mixture"], r.get("scores")) for r in records]  # noqa: E731
    assert strip(run_study(write_config(one))) == strip(run_study(write_config(two)))


def test_a_changed_config_is_refused_unless_restarted(tmp_path, echo_plugin, write_config):
    run_study(write_config(tmp_path))
    changed = write_config(tmp_path, **{'[benchmarks.out-b]': '[benchmarks.out-c]'})
    with pytest.raises(ConfigError, match="benchmarks.out-b: removed; benchmarks.out-c: added"):
        Study(load_config(changed), changed)
    restarted = Study(load_config(changed), changed, restart=True)
    assert restarted.ledger.records() == []
    assert list(tmp_path.joinpath("runs").glob("echo.old-*"))


def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path, **{"[train]\n": "[train]\noptions = { fail_if_pure = true }\n",
                                     'initial = "none"': 'initial = "seed"\ninitial_trials = 4'})
    records = run_study(path)
    failed = [r for r in records if r["status"] == "failed"]
    assert failed and all("single-domain" in r["error"] for r in failed)
    assert len([r for r in records if r["role"] == "search"]) == 5
    assert all((tmp_path / "runs/echo/trials" / r["id"] / "error.log").exists() for r in failed)


def test_partial_last_line_is_dropped_on_open(tmp_path):
    ledger = Ledger(tmp_path / "trials.jsonl")
    ledger.append({"id": "0001", "index": 1, "status": "failed", "mixture": {"a": 1.0}})
    with open(ledger.path, "a") as handle:
        handle.write('{"id": "0002", "ind')
    reopened = Ledger(tmp_path / "trials.jsonl")
    assert reopened.repaired_bytes > 0
    assert [r["id"] for r in reopened.records()] == ["0001"]


def test_interrupted_trial_is_recorded_then_run_again(tmp_path, echo_plugin, monkeypatch, write_config):
    path = write_config(tmp_path)
    calls = {"n": 0}
    original = echo_plugin.EchoTrainer.train

    def interrupt_third(self, request):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, request)

    monkeypatch.setattr(echo_plugin.EchoTrainer, "train", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        run_study(path)
    statuses = {r["id"]: r["status"] for r in Ledger(tmp_path / "runs/echo/trials.jsonl").records()}
    assert statuses == {"base": "ok", "0001": "ok", "0002": "ok", "0003": "interrupted"}
    records = run_study(path)
    assert search_ids(records) == ["0001", "0002", "0003", "0004", "0005"]


def test_report_names_the_best_mixture_and_its_margin_over_uniform(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path)
    run_study(path)
    report = write_report(tmp_path / "runs/echo")
    text = report.read_text()
    summary = json.loads((tmp_path / "runs/echo/summary.json").read_text())
    assert "Best observed trial" in text and "Margin over uniform" in text
    assert summary["best"]["value"] >= summary["uniform"]["value"]
    assert summary["best_vs_uniform"]["paired_stderr"] >= 0
    for plot in ("best_so_far.png", "top_mixtures.png", "benchmarks_heatmap.png"):
        assert (tmp_path / "runs/echo" / plot).stat().st_size > 1000
        assert plot in text


def test_report_shows_what_each_domain_moves_alone_and_warns_of_a_domain_without_task_reward(
        tmp_path, echo_plugin, write_config):
    """The seed design trains each domain alone: the report's transfer table is those trials minus the base."""
    path = write_config(tmp_path, **{'initial = "none"': 'initial = "seed"', "budget = 5": "budget = 7",
                                     "batch_size = 2\n": "batch_size = 2\noptions = { no_task_reward = \"c\" }\n"})
    run_study(path)
    text = write_report(tmp_path / "runs/echo").read_text()
    summary = json.loads((tmp_path / "runs/echo/summary.json").read_text())
    transfer = summary["transfer"]
    assert set(transfer) == {"a", "b", "c"}
    assert transfer["a"]["in-a"] > 0.3 and transfer["b"]["out-b"] > 0.3  # echo: a domain lifts its own skill
    assert abs(transfer["c"]["in-a"]) < 0.15
    assert "## Transfer from single domains" in text and "| a | " in text
    warning = next(w for w in summary["warnings"] if w.startswith("domain c"))
    assert "no task reward" in warning and warning in text
    assert not any(w.startswith(("domain a", "domain b")) for w in summary["warnings"])


def test_confirmation_seeds_give_the_margin_over_seeds_without_the_winners_curse(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path, **{"budget = 5": "budget = 5\nconfirm_seeds = 2"})
    records = run_study(path)
    text = write_report(tmp_path / "runs/echo").read_text()
    summary = json.loads((tmp_path / "runs/echo/summary.json").read_text())

    best, uniform = summary["best"], summary["uniform"]
    assert best["mixture"] != uniform["mixture"]
    confirm = [r for r in records if r["role"] == "confirm" and r["status"] == "ok"]
    assert sorted(tuple(sorted(r["mixture"].items())) for r in confirm) == sorted(
        [tuple(sorted(best["mixture"].items()))] * 2 + [tuple(sorted(uniform["mixture"].items()))] * 2)
    assert len({r["seed"] for r in records if r["status"] == "ok"}) > 2  # new seeds, not the search's again
    # best: its two fresh seeds only; uniform: its search trial and two fresh seeds
    fresh = [r["scores"]["out_score"] for r in confirm if r["mixture"] == best["mixture"]]
    baseline = [r["scores"]["out_score"] for r in confirm if r["mixture"] == uniform["mixture"]] + [uniform["value"]]
    over_seeds = summary["best_vs_uniform_over_seeds"]
    assert over_seeds["seeds"] == [2, 3]
    assert over_seeds["margin"] == pytest.approx(statistics.fmean(fresh) - statistics.fmean(baseline))
    assert over_seeds["stderr"] == pytest.approx(
        math.sqrt(statistics.variance(fresh) / 2 + statistics.variance(baseline) / 3))
    assert "Margin over seeds" in text and "its score helped pick it" in text
    assert summary["recommended"]["among"] == "observed"  # random has no model: the best observed mixture


def test_confirmation_trains_the_mixture_the_model_recommends(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path, **{"budget = 5": "budget = 8\nconfirm_seeds = 1", 'name = "random"': 'name = "quadratic"',
                                     'initial = "none"': 'initial = "seed"'})
    records = run_study(path)
    text = write_report(tmp_path / "runs/echo").read_text()
    summary = json.loads((tmp_path / "runs/echo/summary.json").read_text())
    recommended = summary["recommended"]
    assert recommended["among"] == "tried" and recommended["sd"] > 0
    assert recommended["simplex"]["among"] == "simplex"
    confirmed = {tuple(sorted(r["mixture"].items())) for r in records if r["role"] == "confirm"}
    uniform = tuple(sorted(summary["uniform"]["mixture"].items()))
    assert confirmed - {uniform} == {tuple(sorted(recommended["mixture"].items()))}
    assert "**Recommended mixture** (`quadratic`'s model" in text and "Over every mixture" in text


def test_without_confirmation_the_report_says_seed_noise_is_not_counted(tmp_path, echo_plugin, write_config):
    run_study(write_config(tmp_path))
    text = write_report(tmp_path / "runs/echo").read_text()
    assert "one training seed each" in text and "study.confirm_seeds" in text


def _modomodo(*args):
    return [sys.executable, "-c", "from modomodo.cli import main; main()", *args]


def test_sigkill_mid_trial_loses_only_that_trial(tmp_path, write_config, installed_echo_env):
    env = installed_echo_env
    path = write_config(tmp_path, **{"steps = 3": "steps = 20\noptions = { sleep = 0.05 }"})
    ledger = tmp_path / "runs/echo/trials.jsonl"
    process = subprocess.Popen(_modomodo("run", str(path)), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        finished = ledger.read_text().count("\n") if ledger.exists() else 0
        if finished >= 3 and (tmp_path / "runs/echo/trials/0003").exists():
            break
        time.sleep(0.05)
    time.sleep(0.3)  # well inside trial 0003 (one second of training)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_after = [json.loads(line)["id"] for line in ledger.read_text().splitlines()]
    assert "0003" not in killed_after

    done = subprocess.run(_modomodo("run", str(path)), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = ledger.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is whole JSON
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "a trial was recorded twice"
    assert ids == ["base", "0001", "0002", "0003", "0004", "0005"]
    starts = (tmp_path / "runs/echo/run.log").read_text().count
    for trial_id in killed_after[1:]:
        assert starts(f"start trial {trial_id} ") == 1, f"finished trial {trial_id} ran again"
    assert starts("start trial 0003 ") == 2
    assert (tmp_path / "runs/echo/report.md").exists()


@pytest.mark.slow
@pytest.mark.parametrize("trial_process", ["inline", "child"])
def test_ray_runs_two_trials_at_once_with_the_same_ledger_format(tmp_path, write_config, trial_process,
                                                                  installed_echo_env):
    pytest.importorskip("ray")
    env = installed_echo_env
    local = write_config(tmp_path)
    subprocess.run(_modomodo("run", str(local)), env=env, check=True, capture_output=True, timeout=300)
    ray_dir = tmp_path / "ray"
    ray_dir.mkdir()
    executor = f'[executor]\nkind = "ray"\nmax_concurrent = 2\nnum_cpus = 1\ntrial_process = "{trial_process}"'
    on_ray = write_config(ray_dir, **{"[optimizer]": f"{executor}\n\n[optimizer]",
                                      "steps = 3": "steps = 10\noptions = { sleep = 0.1 }"})
    done = subprocess.run(_modomodo("run", str(on_ray)), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    local_records = Ledger(tmp_path / "runs/echo/trials.jsonl").records()
    ray_records = Ledger(ray_dir / "runs/echo/trials.jsonl").records()
    assert [sorted(r) for r in ray_records] == [sorted(r) for r in local_records]
    assert [r["status"] for r in ray_records] == ["ok"] * 6
    windows = {i: json.loads((ray_dir / f"runs/echo/trials/{i}/train_window.json").read_text()) for i in ("0001", "0002")}
    assert windows["0001"][0] < windows["0002"][1] and windows["0002"][0] < windows["0001"][1], "not concurrent"
    if trial_process == "child":
        assert (ray_dir / "runs/echo/trials/0001/result.json").exists()
