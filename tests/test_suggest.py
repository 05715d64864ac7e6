"""`modomodo suggest` and history files: CSV/JSONL round trip, and errors that name file, line and column."""

import json

import pytest
from click.testing import CliRunner

from modomodo import HistoryError, read_history
from modomodo.cli import cli, _add_commands

SEED_CSV = """coco,lisa,geoqav,sat,sciqa,in_score,out_score,note
1,0,0,0,0,0.3254,0.4589,single
0,1,0,0,0,0.318,0.4219,single
0,0,1,0,0,0.2232,0.4753,single
0,0,0,1,0,0.199,0.4915,single
0,0,0,0,1,0.3274,0.4263,single
0,.25,.25,.25,.25,0.559,0.5146,no coco
.25,0,.25,.25,.25,0.5432,0.4783,no lisa
.25,.25,0,.25,.25,0.5767,0.4889,no geoqav
.25,.25,.25,0,.25,0.5463,0.4721,no sat
.25,.25,.25,.25,0,0.4787,0.493,no sciqa
.2,.2,.2,.2,.2,0.5638,0.4609,all
"""
DOMAINS = ["coco", "lisa", "geoqav", "sat", "sciqa"]


@pytest.fixture(scope="module")
def runner():
    _add_commands()
    return CliRunner()


def suggest(runner, *args):
    return runner.invoke(cli, ["suggest", *args])


def csv_file(tmp_path, text=SEED_CSV):
    path = tmp_path / "history.csv"
    path.write_text(text)
    return path


def test_csv_and_jsonl_histories_give_the_same_suggestion(runner, tmp_path):
    csv_path = csv_file(tmp_path)
    domains, observations = read_history(csv_path)
    assert domains == DOMAINS  # the label column "note" is skipped, scores are recognised by name
    jsonl_path = tmp_path / "history.jsonl"
    jsonl_path.write_text("".join(json.dumps({"mixture": dict(o.mixture), "scores": dict(o.scores)}) + "\n"
                                  for o in observations))
    outputs = [suggest(runner, "--optimizer", "norm", "--history", str(p)) for p in (csv_path, jsonl_path)]
    assert all(result.exit_code == 0 for result in outputs), [r.output for r in outputs]
    assert outputs[0].stdout == outputs[1].stdout
    proposal = json.loads(outputs[0].stdout)
    assert list(proposal) == DOMAINS and sum(proposal.values()) == pytest.approx(1.0)


def test_prints_k_json_lines_and_diagnostics_on_stderr(runner, tmp_path):
    result = suggest(runner, "--optimizer", "quadratic", "--history", str(csv_file(tmp_path)), "--n", "3",
                     "--seed", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3 and all(sum(json.loads(line).values()) == pytest.approx(1.0) for line in lines)
    assert "leave-one-out R^2" in result.stderr


def test_objective_chooses_the_column(runner, tmp_path):
    path = csv_file(tmp_path)
    by_out = suggest(runner, "--optimizer", "coli", "--history", str(path)).stdout
    by_in = suggest(runner, "--optimizer", "coli", "--history", str(path), "--objective", "in_score").stdout
    assert by_out != by_in


def test_options_are_passed_and_checked(runner, tmp_path):
    path = str(csv_file(tmp_path))
    ok = suggest(runner, "--optimizer", "random", "--history", path, "-o", "concentration=0.5")
    assert ok.exit_code == 0
    bad = suggest(runner, "--optimizer", "random", "--history", path, "-o", "conc=0.5")
    assert bad.exit_code == 2 and "valid options: concentration" in bad.stderr


@pytest.mark.parametrize("text,message", [
    ("a,b,out_score\n0.5,0.5,0.4\n0.7,0.7,0.5\n", r"history.csv:3: domain weights sum to 1.4"),
    ("a,b,out_score\n0.5,0.5,0.4\n0.5,x,0.4\n", r"history.csv:3: column 'b': weight 'x' is not a finite number"),
    ("a,b,out_score\n1.5,-0.5,0.4\n", r"history.csv:2: column 'b': weight -0.5 is negative"),
    ("a,b,out_score\n0.5,0.5\n", r"history.csv:2: 2 values for 3 columns"),
])
def test_bad_files_name_file_line_and_column(tmp_path, text, message):
    with pytest.raises(HistoryError, match=message):
        read_history(csv_file(tmp_path, text))


def test_bad_jsonl_line(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"a": 0.5, "b": 0.5, "out_score": 0.4}\n{"a": 1, "b": \n')
    with pytest.raises(HistoryError, match=r"h.jsonl:2: not valid JSON"):
        read_history(path)


def test_cli_errors_are_one_line(runner, tmp_path):
    missing_score = csv_file(tmp_path, "a,b,in_score\n0.5,0.5,0.4\n1,0,0.3\n0,1,0.2\n")
    result = suggest(runner, "--optimizer", "quadratic", "--history", str(missing_score))
    assert result.exit_code == 1
    assert "row 1 has no 'out_score' score" in result.stderr and "Traceback" not in result.output
    unknown = suggest(runner, "--optimizer", "nope", "--history", str(missing_score))
    assert unknown.exit_code == 2 and "known:" in unknown.stderr


def test_explicit_domains(runner, tmp_path):
    path = csv_file(tmp_path, "a,b,seed,out_score\n0.5,0.5,1,0.4\n")
    with pytest.raises(HistoryError, match="pass the domains explicitly"):
        read_history(path)
    assert read_history(path, domains=["a", "b"])[0] == ["a", "b"]
    result = suggest(runner, "--optimizer", "uniform", "--history", str(path), "--domains", "a,b")
    assert json.loads(result.stdout) == {"a": 0.5, "b": 0.5}
