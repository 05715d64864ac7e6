"""Trials in child processes (``executor.trial_process = "child"``): the same record as in-process, and a
child that raises, is SIGKILLed or hangs fails alone while the study goes on; several processes per trial.

The stand-in trainer (tests/fixtures/echo_plugin.py) misbehaves on demand; the slow tests run the real
trainer on the embedded model, one and two processes.
"""

import json
from pathlib import Path

import pytest

from modomodo.config import load_config
from modomodo.errors import ConfigError
from modomodo.study import Study

CHILD = '[executor]\ntrial_process = "child"\n\n[optimizer]'
PURE_DOMAINS = {'initial = "none"': 'initial = "seed"'}  # uniform, then a alone (until it succeeds), b, ...


def run_study(path: Path):
    return Study(load_config(path), path).run()


def ledger_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]


def comparable(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("finished_at", "wall_time")}


def test_a_child_trial_records_what_an_inline_one_does(tmp_path, echo_plugin, write_config):
    (tmp_path / "inline").mkdir()
    (tmp_path / "child").mkdir()
    inline = run_study(write_config(tmp_path / "inline"))
    child = run_study(write_config(tmp_path / "child", **{"[optimizer]": CHILD}))
    assert [comparable(r) for r in child] == [comparable(r) for r in inline]
    trial = tmp_path / "child/runs/echo/trials/0001"
    assert (trial / "result.json").exists() and (trial / "trial.log").exists()
    assert json.loads((trial / "progress.json").read_text()) == {"stage": "evaluate", "done": 2, "total": 2}


@pytest.mark.parametrize("misbehaviour, reason", [
    ('raise_if_pure = "a"', "MemoryError: this test trainer runs out of memory on a alone"),
    ('kill_if_pure = "a"', "killed by SIGKILL"),
    ('hang_if_pure = "a"', "timed out after 2 s"),
])
def test_a_child_that_raises_is_killed_or_hangs_fails_alone(tmp_path, echo_plugin, write_config, misbehaviour, reason):
    path = write_config(tmp_path, **PURE_DOMAINS, **{
        "[train]\n": f"[train]\noptions = {{ {misbehaviour} }}\n",
        "[optimizer]": CHILD.replace('"child"', '"child"\ntimeout = 2'),
    })
    records = run_study(path)
    search = [r for r in records if r["role"] == "search"]
    failed = [r for r in search if r["status"] == "failed"]
    assert failed and all(r["mixture"]["a"] == 1.0 and reason in r["error"] for r in failed)
    assert [r["status"] for r in search if r["mixture"]["a"] != 1.0] == ["ok"] * (len(search) - len(failed))
    after = search[search.index(failed[0]) + 1:]
    assert any(r["status"] == "ok" for r in after), "no trial ran after the failed one"
    run_dir = tmp_path / "runs/echo"
    ids = [line["id"] for line in ledger_lines(run_dir)]
    assert ids == ["base", "0001", "0002", "0003", "0004", "0005"], "lost or duplicated"
    failed_dir = run_dir / "trials" / failed[0]["id"]
    assert (failed_dir / "error.log").read_text().strip()


def test_a_killed_child_names_the_last_line_of_its_log(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path, **PURE_DOMAINS, **{"[train]\n": '[train]\noptions = { kill_if_pure = "a" }\n',
                                                     "[optimizer]": CHILD})
    records = run_study(path)
    failed = next(r for r in records if r["status"] == "failed")
    assert "echo trainer: about to be killed" in failed["error"]
    assert "trial.log" in failed["error"]


@pytest.mark.parametrize("key", ["processes = 2", "timeout = 60", 'launcher_config = "accelerate.yaml"'])
def test_what_needs_a_child_process_is_refused_inline(tmp_path, write_config, key):
    (tmp_path / "accelerate.yaml").write_text("num_processes: 2\n")
    path = write_config(tmp_path, **{"[optimizer]": f"[executor]\n{key.replace('accelerate.yaml', str(tmp_path / 'accelerate.yaml'))}\n\n[optimizer]"})
    with pytest.raises(ConfigError, match='needs trial_process = "child"'):
        load_config(path)


def test_a_multi_process_trial_reserves_a_gpu_per_process(tmp_path, write_config):
    path = write_config(tmp_path, **{"[optimizer]": CHILD.replace('"child"', '"child"\nprocesses = 4\nnum_gpus = 2')})
    with pytest.raises(ConfigError, match="executor.num_gpus: 2 GPUs reserved for a trial of 4 processes"):
        load_config(path)


def test_a_missing_launcher_config_is_named(tmp_path, write_config):
    path = write_config(tmp_path, **{"[optimizer]": CHILD.replace('"child"', '"child"\nlauncher_config = "nope.yaml"')})
    with pytest.raises(ConfigError, match="executor.launcher_config: expected an existing file, got 'nope.yaml'"):
        load_config(path)


def test_several_processes_need_a_trainer_with_a_launcher(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path, **{"[optimizer]": CHILD.replace('"child"', '"child"\nprocesses = 2')})
    records = run_study(path)
    searched = [r for r in records if r["role"] == "search"]
    assert searched and all(r["status"] == "failed" for r in searched)
    assert "trainer 'echo' has no launcher" in searched[0]["error"]
    assert next(r for r in records if r["id"] == "base")["status"] == "ok"  # the base needs one process only


def _embedded_study(tmp_path: Path, executor: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    text = (Path(__file__).parents[1] / "examples/quickstart.toml").read_text()
    for old, new in {'output_dir = "runs"': f'output_dir = "{tmp_path / "runs"}"', "budget = 14": "budget = 1",
                     "confirm_seeds = 2": "confirm_seeds = 0", "steps = 100": "steps = 4",
                     "limit = 500": "limit = 16", "[optimizer]": f"{executor}\n\n[optimizer]"}.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_the_embedded_model_in_a_child_scores_as_in_process(tmp_path):
    inline = run_study(_embedded_study(tmp_path / "inline", ""))
    child = run_study(_embedded_study(tmp_path / "child", '[executor]\ntrial_process = "child"'))
    assert [sorted(r) for r in child] == [sorted(r) for r in inline]
    for a, b in zip(inline, child):
        assert a["status"] == b["status"] == "ok"
        for key in ("in_score", "out_score"):  # one thread, same seed: equal up to evaluation noise
            assert abs(a["scores"][key] - b["scores"][key]) <= 2 * a["scores"][f"{key}_stderr"]


@pytest.mark.slow
def test_a_two_process_trial_trains_on_both_and_records_once(tmp_path):
    path = _embedded_study(tmp_path, '[executor]\ntrial_process = "child"\nprocesses = 2')
    records = run_study(path)
    trial = next(r for r in records if r["role"] == "search")
    assert trial["status"] == "ok", trial.get("error")
    assert trial["train"]["processes"] == 2
    log = (tmp_path / "runs/quickstart/trials/0001/trial.log").read_text()
    assert "accelerate.commands.launch --num_processes 2" in log
    assert [line["id"] for line in ledger_lines(tmp_path / "runs/quickstart")] == ["base", "0001"]
