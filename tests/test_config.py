"""The study config: strict TOML loading whose errors name the file, the key path and the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from modomodo import ConfigError, Mixture
from modomodo.config import config_to_dict, dump_toml, load_config

VALID = """
[study]
name = "two-domains"

[domains.coco]
source = "synthetic"
verifier = "iou"

[domains.lisa]
source = "synthetic"
verifier = ["iou", "accuracy-extra"]

[benchmarks.geo]
source = "synthetic"
verifier = "exact"
group = "out"
"""


def write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def with_lines(section_line: str, *lines: str) -> str:
    """VALID with ``lines`` inserted after ``section_line``."""
    return VALID.replace(section_line, "\n".join([section_line, *lines]), 1)


# Each case: the config text, then what the one-line message must say after "<file>: ".
BAD_CONFIGS = {
    "unknown key": (with_lines("[study]", "bugdet = 3"), "study.bugdet: unknown key; did you mean 'budget'?"),
    "unknown nested key": (with_lines("[domains.coco]", "weigth = 0.5"),
                           "domains.coco.weigth: unknown key; did you mean 'weight'?"),
    "wrong type": (with_lines("[study]", 'budget = "three"'), "study.budget: expected an integer, got 'three'"),
    "float for an integer": (VALID + "[train]\nsteps = 2.5\n", "train.steps: expected an integer, got 2.5"),
    "string for a list": (VALID + '[train]\nreport_to = "wandb"\n', "train.report_to: expected a list, got 'wandb'"),
    "scalar for a table": (VALID + "[train]\nlora = 3\n", "train.lora: expected a table, got 3"),
    "negative weight": (with_lines("[domains.coco]", "weight = -0.5").replace(
        "[domains.lisa]", "[domains.lisa]\nweight = 1.5"), "domains.coco.weight: expected a finite number >= 0, got -0.5"),
    "NaN weight": (with_lines("[domains.coco]", "weight = nan").replace(
        "[domains.lisa]", "[domains.lisa]\nweight = 1.0"), "domains.coco.weight: expected a finite number >= 0, got nan"),
    "weights not summing to 1": (with_lines("[domains.coco]", "weight = 0.7").replace(
        "[domains.lisa]", "[domains.lisa]\nweight = 0.5"),
        "domains.*.weight: expected weights summing to 1, they sum to 1.2 "
        "(domains.coco.weight=0.7, domains.lisa.weight=0.5)"),
    "bad choice": (with_lines("[benchmarks.geo]", 'bbox = "percent"'),
                   "benchmarks.geo.bbox: expected one of 'pixels', 'rel1000', 'resized-input', got 'percent'"),
    "missing required key": (VALID.replace('group = "out"', ""), "benchmarks.geo.group: required key missing"),
    "no domains": ('[study]\nname = "x"\n', "domains: required key missing"),
    "infinite learning rate": (VALID + "[train]\nlearning_rate = inf\n",
                               "train.learning_rate: expected a finite number > 0, got inf"),
    "batch not a multiple of generations": (VALID + "[train]\nbatch_size = 7\n",
                                            "train.batch_size: expected a multiple of num_generations (6), got 7"),
    "unknown objective": (with_lines("[study]", 'objective = "geometry"'),
                          "study.objective: expected one of geo, out_score, got 'geometry'"),
    "path and embedded": (VALID + '[model]\npath = "/models/qwen"\nembedded = "tiny-qwen2vl"\n',
                          "model.path: give either 'embedded' or 'path', not both"),
    "invalid TOML": ('[study\nname = "x"\n', "invalid TOML: Expected ']' at the end of a table declaration (at line 1"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_check_reports_a_bad_config_in_one_line_and_exits_2(case, tmp_path, run_modomodo):
    text, expected = BAD_CONFIGS[case]
    path = write(tmp_path, text)
    result = run_modomodo("check", path)
    assert result.returncode == 2, result.stderr
    assert f"{path}: {expected}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_check_reports_a_missing_file_and_exits_2(tmp_path, run_modomodo):
    result = run_modomodo("check", tmp_path / "nowhere.toml")
    assert result.returncode == 2
    assert result.stderr.strip() == f"Error: {tmp_path / 'nowhere.toml'}: file not found"


def test_every_problem_is_reported_at_once(tmp_path):
    text = with_lines("[study]", "bugdet = 3", "seed = 'one'")
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    lines = str(error.value).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{tmp_path / 'study.toml'}: study.") for line in lines)


def test_valid_config_fills_paper_defaults(tmp_path):
    config = load_config(write(tmp_path, VALID))
    assert config.study.name == "two-domains" and config.study.budget == 12
    assert config.domain_names == ["coco", "lisa"]
    assert config.domains["coco"].verifier == ["iou"]
    assert config.domains["lisa"].verifier == ["iou", "accuracy-extra"]
    assert config.model.embedded == "tiny-qwen2vl" and config.model.path is None
    assert (config.train.steps, config.train.num_generations, config.train.batch_size) == (2000, 6, 12)
    assert (config.train.learning_rate, config.train.beta) == (1e-6, 0.04)
    weights = config.domains["coco"].weights
    assert (weights.accuracy, weights.iou, weights.format) == (2.0, 2.0, 1.0)
    assert config.fixed_mixture() is None


def test_integers_are_accepted_where_numbers_are_expected(tmp_path):
    config = load_config(write(tmp_path, VALID + "[train]\nlearning_rate = 1\nbeta = 0\n"))
    assert config.train.learning_rate == 1.0 and isinstance(config.train.learning_rate, float)


def test_domain_weights_give_a_fixed_mixture(tmp_path):
    text = with_lines("[domains.coco]", "weight = 0.25").replace("[domains.lisa]", "[domains.lisa]\nweight = 0.75")
    config = load_config(write(tmp_path, text))
    assert config.fixed_mixture() == Mixture({"coco": 0.25, "lisa": 0.75})


def test_config_is_frozen(tmp_path):
    config = load_config(write(tmp_path, VALID))
    with pytest.raises(AttributeError):
        config.study.seed = 1  # type: ignore[misc]


def test_resolved_config_round_trips_through_toml(tmp_path):
    text = VALID + '[train]\nreport_to = ["wandb"]\n[train.lora]\nr = 8\n[domains.coco.columns]\nquestion = "problem"\n'
    config = load_config(write(tmp_path, text))
    resolved = write(tmp_path, dump_toml(config_to_dict(config)), name="resolved.toml")
    assert load_config(resolved) == config


def test_overrides_change_keys_and_are_validated_like_a_file(tmp_path):
    from modomodo.config import with_overrides

    config = load_config(write(tmp_path, VALID))
    changed = with_overrides(config, ["train.steps=150", "train.learning_rate=1e-3", "study.name=y"])
    assert (changed.train.steps, changed.train.learning_rate, changed.study.name) == (150, 1e-3, "y")
    with pytest.raises(ConfigError, match=r"--set: train.steps"):
        with_overrides(config, ["train.steps=-1"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        with_overrides(config, ["train.steps"])
