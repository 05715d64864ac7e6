"""A study you can trust: bad settings fail before the first trial trains, one study has one writer and one
set of settings, a damaged ledger line is skipped and reported, and plugin mistakes get one-line errors.

Each test is a case a red team or a plugin author found; most run the real ``modomodo`` executable.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modomodo import Mixture, OptimizerFactory, hookimpl, temporary_plugin
from modomodo.config import load_config
from modomodo.errors import ConfigError, PluginError, UsageError
from modomodo.preflight import preflight
from modomodo.report import write_report
from modomodo.study import Study

FIXTURES = Path(__file__).parent / "fixtures"


def run_study(path: Path):
    return Study(load_config(path), path).run()


def modomodo(*args, env, **kwargs):
    return subprocess.run([sys.executable, "-c", "from modomodo.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=300, **kwargs)


# -- fail before the first trial trains ---------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({'embedded = "tiny-qwen2vl"': 'embedded = "tiny-qwen2vl"\noptions = { max_pixel = 3 }'},
     "model.options: unknown key(s) max_pixel"),
    ({'embedded = "tiny-qwen2vl"': 'path = "/nowhere/model"'}, "model.path: /nowhere/model is not a model directory"),
    ({'embedded = "tiny-qwen2vl"': 'embedded = "tiny-llava"'}, "model.embedded: expected 'tiny-qwen2vl'"),
    ({"logging_steps = 10": "logging_steps = 10\noptions = { num_iteration = 2 }"},
     "train.options.num_iteration: not a GRPOConfig setting of TRL 1.16.0; did you mean 'num_iterations'?"),
    ({"logging_steps = 10": "logging_steps = 10\noptions = { learning_rate = 1.0 }"},
     "train.options.learning_rate: set by modomodo from train.learning_rate"),
    ({"batch = 1": "batch = 1\noptions = { num_restart = 3 }"}, "optimizer.options: optimizer 'botorch-gp'"),
    ({"batch = 1": "batch = 1\noptions = { num_restarts = -1 }"},
     "option num_restarts: expected a number from 1 to 256, got -1"),
    ({"batch = 1": "batch = 1\noptions = { mc_samples = 0 }"}, "option mc_samples: expected a number from 1"),
    ({"batch = 1": "batch = 1\noptions = { num_restarts = \"8\" }"}, "option num_restarts: expected an integer, got '8'"),
])
def test_a_study_refuses_what_would_fail_every_trial(tmp_path, change, message):
    """`check` used to pass these and `run` to record every trial as failed and exit 0 (or fail after the
    initial design, for optimizer options)."""
    config = quickstart_with(tmp_path, change)
    assert any(message in problem for problem in preflight(load_config(config)))
    with pytest.raises(ConfigError, match=re.escape(message)):
        Study(load_config(config), config)
    assert not (tmp_path / "runs/quickstart").exists(), "the study started"


@pytest.mark.slow
def test_check_fails_and_run_exits_2_before_training(tmp_path):
    message = "train.options.num_iteration: not a GRPOConfig setting"
    config = quickstart_with(tmp_path, {"logging_steps = 10": "logging_steps = 10\noptions = { num_iteration = 2 }"})
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    checked = modomodo("check", str(config), "--limit", "4", env=env)
    assert checked.returncode == 1 and message in " ".join(checked.stdout.split())
    ran = modomodo("run", str(config), env=env)
    assert ran.returncode == 2 and message in ran.stderr
    assert not (tmp_path / "runs/quickstart/trials").exists(), "a trial started"


def quickstart_with(tmp_path: Path, change: dict[str, str]) -> Path:
    text = (Path(__file__).parents[1] / "examples/quickstart.toml").read_text()
    text = text.replace('output_dir = "runs"', f'output_dir = "{tmp_path / "runs"}"')
    for old, new in change.items():
        assert old in text
        text = text.replace(old, new)
    config = tmp_path / "study.toml"
    config.write_text(text)
    return config


@pytest.mark.parametrize("change, message", [
    ({"seed = 7": "seed = 4294967296"}, "study.seed: expected a whole number from 0 to 4,294,967,295"),
    ({"seed = 7": "seed = -1"}, "study.seed: expected a whole number from 0"),
    ({"budget = 5": "budget = 5\nconfirm_seeds = 1000000000000"}, "study.confirm_seeds: expected a whole number"),
    ({"steps = 3": "steps = 1000000000000000000"}, "train.steps: expected a whole number from 1 to 10,000,000"),
    ({'name = "echo"': 'name = "../../x"'}, "study.name: expected letters, digits"),
    ({'name = "echo"': 'name = "/tmp/x"'}, "study.name: expected letters, digits"),
    ({'name = "echo"': 'name = ""'}, "study.name: expected letters, digits"),
    ({'name = "echo"': 'name = "a\\u0007b"'}, "study.name: expected letters, digits"),
    ({"[benchmarks.out-b]": "[benchmarks.out_score]"}, "benchmarks.out_score: the name is taken by a score column"),
    ({'group = "out"': 'group = "in"'}, "study.objective: expected one of in-a, in_score, out-b, got 'out_score' "
                                        "(no benchmark has group = 'out')"),
])
def test_absurd_or_unsafe_settings_are_refused_at_load(tmp_path, write_config, change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        load_config(write_config(tmp_path, **change))


def test_suggest_refuses_a_batch_that_would_exhaust_memory(tmp_path):
    from click.testing import CliRunner

    from modomodo.cli import _add_commands, cli

    history = tmp_path / "h.csv"
    history.write_text("a,b,out_score\n1,0,0.1\n0,1,0.2\n0.5,0.5,0.3\n")
    _add_commands()
    result = CliRunner().invoke(cli, ["suggest", "--optimizer", "botorch-gp", "--history", str(history), "--n", "1000"])
    assert result.exit_code == 2 and "1000 is not in the range 1<=x<=64" in result.output


def test_rows_without_an_image_column_are_named_by_check(tmp_path, run_modomodo, write_config):
    site = tmp_path / "site"
    site.mkdir()
    (site / "imageless.py").write_text(
        "from modomodo import DatasetSource, hookimpl\n"
        "def load(request):\n"
        "    return [{'problem': 'q', 'solution': '<answer>0</answer>', 'skill': 'a'} for _ in range(5)]\n"
        "@hookimpl\n"
        "def register_datasets(register):\n"
        "    register(DatasetSource(name='imageless', load=load))\n")
    dist = site / "imageless-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: imageless\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[modomodo]\nimageless = imageless\n")
    (site / "echo_plugin.py").write_text((FIXTURES / "echo_plugin.py").read_text())
    (site / "echo_plugin-0.1.dist-info").mkdir()
    (site / "echo_plugin-0.1.dist-info/METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 0.1\n")
    (site / "echo_plugin-0.1.dist-info/entry_points.txt").write_text("[modomodo]\necho = echo_plugin\n")
    config = write_config(tmp_path, **{'[domains.a]\nsource = "echo-rows"': '[domains.a]\nsource = "imageless"'})
    result = run_modomodo("check", str(config), pythonpath=site)
    assert result.returncode == 1
    assert "a: row 0 of source 'imageless' (split 'train') has no image column" in " ".join(result.stdout.split())


def test_a_study_whose_every_trial_fails_exits_non_zero(tmp_path, write_config, installed_echo_env):
    env = installed_echo_env
    config = write_config(tmp_path, **{"[train]\n": "[train]\noptions = { fail_always = true }\n",
                                       "budget = 5": "budget = 2"})
    done = modomodo("run", str(config), env=env)
    assert done.returncode == 1
    assert "every trial failed; the first, 0001: RuntimeError: this test trainer fails every trial" in done.stderr
    assert (tmp_path / "runs/echo/report.md").exists()  # the report is still written


# -- one study, one writer, one set of settings --------------------------------------------------------------
@pytest.mark.slow
def test_a_second_run_on_the_same_study_is_refused_with_the_first_ones_pid(tmp_path, write_config, installed_echo_env):
    env = installed_echo_env
    config = write_config(tmp_path, **{"steps = 3": "steps = 30\noptions = { sleep = 0.1 }", "budget = 5": "budget = 2"})
    first = subprocess.Popen([sys.executable, "-c", "from modomodo.cli import main; main()", "run", str(config)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        owner = tmp_path / "runs/.echo.lock.owner"
        deadline = time.monotonic() + 60
        while not owner.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = modomodo("run", str(config), env=env)
        assert second.returncode == 2
        assert f"another `modomodo run` is working on this study (PID {first.pid} on " in second.stderr
    finally:
        first.wait(timeout=300)
    assert first.returncode == 0
    ids = [json.loads(line)["id"] for line in (tmp_path / "runs/echo/trials.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)), "a trial was recorded twice"


def test_the_ledger_keeps_trials_comparable_without_the_resolved_config(tmp_path, echo_plugin, write_config):
    run_study(write_config(tmp_path))
    (tmp_path / "runs/echo/config.resolved.toml").unlink()
    changed = write_config(tmp_path, **{"steps = 3": "steps = 4"})
    with pytest.raises(ConfigError, match="holds trials run with other ledger-defining settings"):
        Study(load_config(changed), changed)


def test_a_refusal_names_the_changed_keys(tmp_path, echo_plugin, write_config):
    run_study(write_config(tmp_path))
    changed = write_config(tmp_path, **{"steps = 3": "steps = 4"})
    with pytest.raises(ConfigError, match="train.steps: 3 -> 4"):
        Study(load_config(changed), changed)


def test_a_non_ascii_domain_name_writes_a_config_that_reads_back(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path, **{"[domains.c]": '[domains."ç-ü"]', "budget = 5": "budget = 2"})
    run_study(path)
    resolved = load_config(tmp_path / "runs/echo/config.resolved.toml")
    assert "ç-ü" in resolved.domains
    run_study(path)  # and the study resumes
    write_report(tmp_path / "runs/echo")


@pytest.mark.parametrize("bad_line", ["garbage\n", "{}\n", '{"id": "0009", "index": 9, "status": "ok", '
                                      '"mixture": {"a": 1.0}, "scores": {"out_score": null}}\n'])
def test_a_bad_ledger_line_is_skipped_and_reported(tmp_path, echo_plugin, write_config, bad_line):
    path = write_config(tmp_path, **{"budget = 5": "budget = 2"})
    run_study(path)
    ledger = tmp_path / "runs/echo/trials.jsonl"
    with open(ledger, "a") as handle:
        handle.write(bad_line)
    write_config(tmp_path, **{"budget = 5": "budget = 3"})
    records = run_study(path)
    assert len([r for r in records if r["role"] == "search"]) == 3
    write_report(tmp_path / "runs/echo")
    summary = json.loads((tmp_path / "runs/echo/summary.json").read_text())
    assert any("trials.jsonl:4:" in warning for warning in summary["warnings"])


def test_the_report_never_changes_the_ledger(tmp_path, echo_plugin, write_config):
    run_study(write_config(tmp_path, **{"budget = 5": "budget = 2"}))
    ledger = tmp_path / "runs/echo/trials.jsonl"
    with open(ledger, "a") as handle:
        handle.write('{"id": "0003", "ind')  # a partial line: `run` would drop it, `report` must not
    before = ledger.read_bytes()
    write_report(tmp_path / "runs/echo")
    assert ledger.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_a_read_only_ledger_is_found_before_training(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path, **{"budget = 5": "budget = 2"})
    run_study(path)
    (tmp_path / "runs/echo/trials.jsonl").chmod(0o444)
    with pytest.raises(UsageError, match="cannot write the ledger"):
        Study(load_config(path), path)


def test_an_unwritable_ledger_is_found_before_training(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path, **{"budget = 5": "budget = 2"})
    run_study(path)
    ledger = tmp_path / "runs/echo/trials.jsonl"
    ledger.unlink()
    ledger.mkdir()  # what a read-only file is for root: a path that cannot be appended to
    with pytest.raises(UsageError, match="cannot write the ledger"):
        Study(load_config(path), path)


# -- the plugin author's side --------------------------------------------------------------------------------
class WrongDomains:
    @hookimpl
    def register_mixture_optimizers(self, register):
        class Proposer:
            def propose(self, history, n):
                return [Mixture({"x": 1.0})] * n

        register(OptimizerFactory(name="wrong-domains", create=lambda domains, objective, seed: Proposer()))


def test_an_optimizer_proposing_other_domains_is_named(tmp_path, echo_plugin, write_config):
    with temporary_plugin(WrongDomains(), "wrong-domains-plugin"):
        path = write_config(tmp_path, **{'name = "random"': 'name = "wrong-domains"'})
        with pytest.raises(PluginError, match="optimizer 'wrong-domains' \\(plugin 'wrong-domains-plugin'\\) "
                                              "proposed a mixture over x; expected one over exactly a, b, c"):
            run_study(path)


def test_the_random_fallback_is_recorded_in_the_ledger(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path, **{'name = "random"': 'name = "quadratic"', "budget = 5": "budget = 3"})
    records = run_study(path)
    fallback = [r for r in records if r.get("fallback")]
    assert fallback and all(r["proposer"] == "random" for r in fallback)
    assert "quadratic could not propose" in fallback[0]["fallback"]


def test_every_trial_keeps_what_the_model_answered(tmp_path, echo_plugin, write_config):
    run_study(write_config(tmp_path, **{"budget = 5": "budget = 1"}))
    answers = json.loads((tmp_path / "runs/echo/trials/0001/answers.json").read_text())
    assert set(answers) == {"in-a", "out-b"}
    first = answers["in-a"][0]
    assert len(answers["in-a"]) == 5 and set(first) == {"problem", "solution", "answers", "score"}
    assert first["problem"] == "a-test-0" and first["answers"][0].startswith("<answer>")


def test_train_shows_some_answers(tmp_path, echo_plugin, write_config):
    from click.testing import CliRunner

    from modomodo.cli import _add_commands, cli

    _add_commands()
    config = write_config(tmp_path)
    result = CliRunner().invoke(cli, ["train", str(config), "--mixture", "a=1", "--show", "1"])
    assert result.exit_code == 0, result.output
    assert "in-a · score" in result.output and "reference: <answer>0</answer>" in result.output
    assert result.output.count("answered:") == 2  # one per benchmark


def test_a_resumed_study_says_which_plugin_changed_version(tmp_path, echo_plugin, write_config):
    path = write_config(tmp_path, **{"budget = 5": "budget = 1"})
    run_study(path)
    recorded = tmp_path / "runs/echo/plugins.json"
    versions = json.loads(recorded.read_text())
    assert versions["synthetic"] and "echo-test" in versions
    recorded.write_text(json.dumps({**versions, "synthetic": "0.0.1"}))

    class View:
        said: list[str] = []

        def say(self, message):
            self.said.append(message)

    Study(load_config(path), path, view=View()).close()
    assert any("Plugin synthetic: 0.0.1 when this study's earlier trials ran" in line for line in View.said)


def test_a_bundled_component_left_out_is_named_before_the_study(run_modomodo):
    config = Path(__file__).parents[1] / "examples/quickstart.toml"
    result = run_modomodo("check", str(config), "--limit", "2",
                          env={"MODOMODO_LOAD_PLUGINS": "verifiers,synthetic,trl-grpo,botorch-gp"})
    assert result.returncode == 1
    text = " ".join(result.stdout.split())
    assert "optimizer.initial = 'seed': unknown mixture optimizer 'seed'" in text
    assert "the study's fallback when the optimizer cannot propose yet: unknown mixture optimizer 'random'" in text


@pytest.mark.slow
def test_two_runs_started_at_once_give_one_study_and_one_clean_refusal(tmp_path, write_config, installed_echo_env):
    env = installed_echo_env
    config = write_config(tmp_path, **{"steps = 3": "steps = 10\noptions = { sleep = 0.1 }", "budget = 5": "budget = 2"})
    command = [sys.executable, "-c", "from modomodo.cli import main; main()", "run", str(config)]
    both = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outcomes = [(process.wait(timeout=300), process.stderr.read()) for process in both]
    assert sorted(code for code, _ in outcomes) == [0, 2]
    assert all("Traceback" not in err for _, err in outcomes)
    assert any("another `modomodo run` is working on this study" in err for _, err in outcomes)
    ids = [json.loads(line)["id"] for line in (tmp_path / "runs/echo/trials.jsonl").read_text().splitlines()]
    assert ids == ["base", "0001", "0002"]


def test_suggest_names_the_plugin_of_an_optimizer_proposing_other_domains(tmp_path):
    from click.testing import CliRunner

    from modomodo.cli import _add_commands, cli

    history = tmp_path / "h.csv"
    history.write_text("a,b,c,out_score\n1,0,0,0.1\n0,1,0,0.2\n0,0,1,0.3\n")
    _add_commands()
    with temporary_plugin(WrongDomains(), "wrong-domains-plugin"):
        result = CliRunner().invoke(cli, ["suggest", "--optimizer", "wrong-domains", "--history", str(history)])
    assert result.exit_code == 1
    assert ("optimizer 'wrong-domains' (plugin 'wrong-domains-plugin') proposed a mixture over x; expected one "
            "over exactly a, b, c") in result.output
    assert "KeyError" not in result.output


def test_plugins_shows_descriptions(run_modomodo):
    result = run_modomodo("plugins", "--json")
    plugins = {plugin["name"]: plugin for plugin in json.loads(result.stdout)}
    assert plugins["synthetic"]["description"].startswith("The embedded testbed")
    assert plugins["verifiers"]["descriptions"]["verifiers"]["exact"]


def test_train_refuses_what_would_fail_before_training(tmp_path):
    from click.testing import CliRunner

    from modomodo.cli import _add_commands, cli

    config = quickstart_with(tmp_path, {"logging_steps = 10": "logging_steps = 10\noptions = { num_iteration = 2 }"})
    _add_commands()
    result = CliRunner().invoke(cli, ["train", str(config), "--mixture", "detect=1"])
    assert result.exit_code == 2
    assert "train.options.num_iteration: not a GRPOConfig setting" in result.output
