"""``modomodo check``: the dry run loads every dataset and proves each reward tells right from wrong."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from modomodo import Verifier, hookimpl
from modomodo.cli import cli
from modomodo.commands.check import corruptions, wrong_answer
from modomodo.plugins import get

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.toml"
ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def _answer(text: str) -> str | None:
    found = ANSWER.search(text)
    return found.group(1).strip() if found else None


class ToyVerifiers:
    """Stand-ins that share no name with the bundled verifiers: a strict format and an exact answer match."""

    @hookimpl
    def register_verifiers(self, register):
        register(Verifier("toy-format", lambda c, row: float(bool(re.fullmatch(r"<think>.*</think><answer>.*</answer>", c, re.S))), kind="format"))
        register(Verifier("toy-match", lambda c, row: float(_answer(c) == _answer(row["solution"])), kind="accuracy"))
        register(Verifier("toy-always", lambda c, row: 1.0, kind="accuracy"))


def config(tmp_path, verifier="toy-match", extra=""):
    text = f"""
[study]
name = "check-test"

[domains.detect]
source = "synth-detect"
verifier = "{verifier}"
format = "toy-format"
options = {{ size = 30 }}

[domains.science]
source = "synth-science"
verifier = "{verifier}"
format = "toy-format"
options = {{ size = 30 }}

[benchmarks.chart]
source = "synth-chart"
verifier = "{verifier}"
format = "toy-format"
group = "out"
limit = 20
{extra}"""
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


@pytest.fixture
def toy_verifiers(temporary_plugin):
    temporary_plugin(ToyVerifiers(), name="toy-verifiers")


def invoke(*args):
    return CliRunner().invoke(cli, ["check", *map(str, args)])


def test_references_earn_full_reward_and_corruptions_less(tmp_path, toy_verifiers):
    result = invoke(config(tmp_path))
    assert "detect" in result.output and "science" in result.output and "chart" in result.output
    assert "every reference earned full reward" in result.output
    # rows per entry: 30 per domain, 20 for the benchmark
    assert re.search(r"detect\s*│\s*domain\s*│\s*synth-detect\s*│\s*train\s*│\s*30\s*│\s*100\.0%", result.output)
    assert re.search(r"chart\s*│\s*out bench\s*│\s*synth-chart\s*│\s*test\s*│\s*20\s*│\s*100\.0%", result.output)


def test_a_reward_that_cannot_tell_wrong_answers_fails_the_check(tmp_path, toy_verifiers):
    result = invoke(config(tmp_path, verifier="toy-always"))
    assert result.exit_code == 1
    assert re.search(r"failed detect: row 0: shifted box .* still scored full reward", result.output)
    assert re.search(r"failed science: row 0: wrong letter .* still scored full reward", result.output)


def test_a_dataset_that_cannot_load_fails_the_check_and_the_rest_still_runs(tmp_path, toy_verifiers):
    extra = '\n[benchmarks.lisa]\nsource = "lisa"\nverifier = "toy-match"\nformat = "toy-format"\ngroup = "in"\n'
    result = invoke(config(tmp_path, extra=extra))
    assert result.exit_code == 1
    assert "failed lisa: lisa: no path given" in result.output
    assert re.search(r"chart\s*│.*│\s*100\.0%.*ok", result.output)


def test_a_bad_config_exits_2_before_any_loading(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[study]\nname = "x"\n[domains.a]\nsource = "synth-detect"\nverifier = "exact"\nlimit = -1\n')
    result = invoke(path)
    assert result.exit_code == 2
    assert "domains.a.limit" in result.output


def test_wrong_answers_differ_from_the_reference_in_each_answer_form():
    image = Image.new("RGB", (84, 84))
    assert wrong_answer("B") == ("wrong letter", "C")
    assert wrong_answer("H") == ("wrong letter", "A")
    assert wrong_answer("3") == ("wrong number", "4")
    assert wrong_answer("2.5") == ("wrong number", "3.5")
    assert wrong_answer("yes") == ("wrong word", "no")
    assert wrong_answer("red") == ("wrong word", "not red")
    label, boxes = wrong_answer("[{'Position': [70, 10, 80, 20], 'Confidence': 1}]", image)
    assert label == "shifted box"
    assert boxes == "[{'Position': [59, 21, 69, 31], 'Confidence': 1}]"  # moved left, inside the 84 px image


def test_corruptions_drop_the_tags_only_under_a_format_gate():
    row = {"image": None}
    assert [label for label, _ in corruptions("<answer>B</answer>", row, gated=True)] == ["wrong letter", "missing tags"]
    assert [label for label, _ in corruptions("<answer>B</answer>", row, gated=False)] == ["wrong letter"]


def _bundled_verifiers_present() -> bool:
    try:
        for name in ("format", "iou-coco", "iou-binary", "iou-mean", "choice", "exact"):
            get("verifiers", name)
    except Exception:  # noqa: BLE001 - the verifiers plugin may fail to load or be missing
        return False
    return True


@pytest.mark.skipif(not _bundled_verifiers_present(), reason="the bundled verifiers plugin is not installed")
def test_quickstart_references_earn_full_reward_through_the_bundled_verifiers(run_modomodo):
    result = run_modomodo("check", QUICKSTART, "--limit", "150")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("100.0%") == 2 * 11  # every reference full, every corruption lower, 11 entries


@pytest.mark.skipif(not _bundled_verifiers_present(), reason="the bundled verifiers plugin is not installed")
def test_paper_sources_on_local_files_pass_the_dry_run(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    picture = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(picture, format="PNG")
    image = {"bytes": picture.getvalue(), "path": None}
    box = "<answer>[{'Position': [4, 6, 30, 40], 'Confidence': 1}]</answer>"
    tables = {
        "lisa": [{"image": image, "problem": f"Output the bounding box of thing {i}.", "solution": box} for i in range(8)],
        "scienceqa": [{"image": image, "problem": f"Which {i}?\nA. x\nB. y", "solution": "<answer>B</answer>"} for i in range(8)],
        "chartqa": [{"image": image, "query": f"Value {i}?", "label": [str(i)]} for i in range(8)],
    }
    for name, rows in tables.items():
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / f"{name}.parquet")
    path = tmp_path / "paper.toml"
    path.write_text(f"""
[study]
name = "paper-check"
[domains.lisa]
source = "lisa"
path = "{tmp_path / 'lisa.parquet'}"
verifier = "iou-binary"
[domains.scienceqa]
source = "scienceqa"
path = "{tmp_path / 'scienceqa.parquet'}"
verifier = "choice"
[benchmarks.chartqa]
source = "chartqa"
path = "{tmp_path / 'chartqa.parquet'}"
columns = {{ query = "question", label = "answer" }}
verifier = "exact"
group = "out"
""")
    result = invoke(path)
    assert result.exit_code == 0, result.output
    assert result.output.count("100.0%") == 6
