"""A small study end to end with the real stack: synthetic testbed, verifiers, TRL GRPO on the tiny
Qwen2-VL, botorch-gp, the ledger and the report, through the `modomodo run` command line."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CONFIG = """
[study]
name = "e2e"
output_dir = "{output}"
seed = 3
budget = 3

[model]
embedded = "tiny-qwen2vl"

[train]
steps = 3
num_generations = 2
batch_size = 4
learning_rate = 5e-4
max_completion_length = 48
on_exhausted = "repeat"

[eval]
max_new_tokens = 48
limit = 12

[domains.spatial]
source = "synth-spatial"
verifier = "exact"

[domains.science]
source = "synth-science"
verifier = "choice"

[benchmarks.spatial-test]
source = "synth-spatial"
verifier = "exact"
group = "in"

[benchmarks.chart]
source = "synth-chart"
verifier = "exact"
group = "out"

[optimizer]
name = "botorch-gp"
initial = "dirichlet"
initial_trials = 2
"""


def test_small_study_runs_to_a_report(tmp_path):
    config = tmp_path / "e2e.toml"
    config.write_text(CONFIG.format(output=tmp_path / "runs"))
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    command = [sys.executable, "-c", "from modomodo.cli import main; main()", "run", str(config)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    run_dir = tmp_path / "runs" / "e2e"
    records = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["base", "0001", "0002", "0003"]
    assert all(r["status"] == "ok" for r in records)
    assert [r["proposer"] for r in records[1:]] == ["uniform", "random", "botorch-gp"]
    for record in records[1:]:
        assert record["steps"] == 3
        scores = record["scores"]
        assert 0 <= scores["out_score"] <= 1 and scores["out_score_stderr"] >= 0
        assert {b["name"]: b["n"] for b in record["benchmarks"]} == {"spatial-test": 12, "chart": 12}
    report = (run_dir / "report.md").read_text()
    assert "Best observed trial" in report and "Margin over uniform" in report
    assert (run_dir / "best_so_far.png").exists()
    assert "# torch" in (run_dir / "config.resolved.toml").read_text()

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len((run_dir / "trials.jsonl").read_text().splitlines()) == len(records)
