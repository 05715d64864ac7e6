"""``modomodo reward``: the reward and its parts as JSON, and one-line errors for bad input."""

from __future__ import annotations

import json

from click.testing import CliRunner

from modomodo.cli import cli

FIGURE_8 = "<answer>[{'Position': [422, 781, 464, 926], 'Confidence': 1}]</answer>"


def reward(*args: str):
    return CliRunner().invoke(cli, ["reward", *args])


def test_figure_2_answer_earns_the_papers_maximum_of_three():
    result = reward("--verifier", "choice", "--solution", "<answer>B</answer>", "<think> ... </think> <answer> B </answer>")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["reward"] == 1.0
    assert report["answer"] == "B"
    assert report["format"] == {"verifier": "format", "score": 1.0, "passed": True}
    assert report["parts"] == {"format": 1.0, "choice": 1.0}
    assert report["total"] == 3.0 == report["max_total"]  # Acc 2 + Format 1


def test_a_failed_format_zeroes_the_total_but_shows_the_raw_score():
    result = reward("--verifier", "iou-coco", "--solution", FIGURE_8, FIGURE_8)  # no <think> block
    report = json.loads(result.output)
    assert report["reward"] == 1.0
    assert report["format"]["passed"] is False
    assert report["parts"] == {"format": 0.0, "iou-coco": 0.0}
    assert report["total"] == 0.0


def test_lenient_gate_and_no_gate():
    lenient = json.loads(reward("--verifier", "iou-coco", "--solution", FIGURE_8, "--format", "format-lenient", FIGURE_8).output)
    assert lenient["total"] == 3.0
    ungated = json.loads(reward("--verifier", "iou-coco", "--solution", FIGURE_8, "--format", "none", FIGURE_8).output)
    assert ungated["format"] is None and ungated["total"] == 2.0 and ungated["max_total"] == 2.0


def test_row_keys_reach_the_verifier_and_row_problems_are_shown():
    completion = "<think>x</think><answer>[100, 100, 500, 500]</answer>"
    args = ["--verifier", "iou-mean", "--solution", "[64, 48, 320, 240]", completion]
    sized = json.loads(reward("--row", '{"bbox": "rel1000", "image_width": 640, "image_height": 480}', *args).output)
    assert sized["reward"] == 1.0 and "error" not in sized
    unsized = json.loads(reward("--row", '{"bbox": "rel1000"}', *args).output)
    assert unsized["reward"] == 0.0
    assert "image_width" in unsized["error"]


def test_unknown_verifier_is_a_usage_error():
    result = reward("--verifier", "nope", "--solution", "B", "B")
    assert result.exit_code == 2
    assert "unknown verifier 'nope'" in result.output and "choice" in result.output
    assert "Traceback" not in result.output


def test_bad_row_json_is_a_usage_error():
    for bad in ("{bad", "[1, 2]"):
        result = reward("--verifier", "exact", "--solution", "B", "--row", bad, "B")
        assert result.exit_code == 2
        assert "--row" in result.output and "Traceback" not in result.output


def test_a_long_completion_comes_from_standard_input():
    long = "<think>" + "x" * 200_000 + "</think><answer>B</answer>"  # beyond the OS limit on one argument
    result = CliRunner().invoke(cli, ["reward", "--verifier", "choice", "--solution", "<answer>B</answer>", "-"],
                                input=long)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total"] == 3.0


def test_many_cases_from_a_jsonl_file(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        json.dumps({"completion": "<think>.</think><answer>B</answer>", "solution": "<answer>B</answer>"}) + "\n\n"
        + json.dumps({"completion": "<answer>C</answer>", "solution": "<answer>B</answer>"}) + "\n")
    result = reward("--verifier", "choice", "--cases", str(cases))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(line["case"], line["total"]) for line in lines] == [(1, 3.0), (3, 0.0)]


def test_a_bad_case_line_is_named(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"completion": "<answer>B</answer>"}\n')
    result = reward("--verifier", "choice", "--cases", str(cases))
    assert result.exit_code == 2
    assert f"{cases}:1: expected an object with string 'completion' and 'solution'" in result.output
