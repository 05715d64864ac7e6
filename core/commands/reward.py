"""``modomodo reward``: score one completion and show every part of its reward, to see why a reward looks wrong."""

import json
from pathlib import Path

import click

from ..errors import PluginError, UsageError
from ..plugins import get
from ..verifiers import DEFAULT_WEIGHTS, CompositeReward


def _row(solution: str, row_json: str | None) -> dict:
    try:
        row = json.loads(row_json) if row_json else {}
    except json.JSONDecodeError as error:
        raise UsageError(f"--row is not valid JSON: {error}") from None
    if not isinstance(row, dict):
        raise UsageError(f"--row must be a JSON object such as '{{\"bbox\": \"rel1000\"}}', got {row_json!r}")
    return {**row, "solution": solution}


def _verifier(name: str):
    try:
        return get("verifiers", name)
    except PluginError as error:
        raise UsageError(str(error)) from None


@click.command(name="reward")
@click.option("--verifier", "verifier_name", required=True, metavar="NAME", help="The task verifier, e.g. choice or iou-coco.")
@click.option("--solution", metavar="TEXT", help="The reference answer, e.g. '<answer>B</answer>'.")
@click.option("--row", "row_json", metavar="JSON",
              help='Other row keys as a JSON object, e.g. \'{"bbox": "rel1000", "image_width": 640, "image_height": 480}\'.')
@click.option("--format", "format_name", default="format", show_default=True, metavar="NAME",
              help="The format gate verifier, or 'none' for no gate.")
@click.option("--cases", "cases_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="A JSONL file of cases, one object per line with 'completion', 'solution' and optionally "
                   "'row' (other row keys); prints one JSON line per case.")
@click.argument("completion", required=False)
def command(verifier_name, solution, row_json, format_name, cases_path, completion):
    """Score COMPLETION ('-' reads it from standard input) with a verifier and print the reward and its parts as
    JSON; or score every case of --cases.

    The total is the paper's: weights Acc 2, IoU 2, Format 1, and a failed format gate zeroes every part.
    """
    verifier = _verifier(verifier_name)
    gate = None if format_name == "none" else _verifier(format_name)
    if cases_path is not None:
        if completion is not None or solution is not None:
            raise UsageError("--cases gives the completions and solutions; leave out COMPLETION and --solution")
        for number, case in _cases(cases_path):
            row = {**case.get("row", {}), "solution": case["solution"]}
            click.echo(json.dumps({"case": number, **_report(verifier, gate, case["completion"], row)}))
        return
    if completion is None or solution is None:
        raise UsageError("give COMPLETION ('-' for standard input) and --solution, or --cases FILE")
    if completion == "-":
        completion = click.get_text_stream("stdin").read()
    click.echo(json.dumps(_report(verifier, gate, completion, _row(solution, row_json)), indent=2))


def _cases(path: str):
    """(line number, case) for every non-empty line; a bad line is an error naming it."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise UsageError(f"--cases {path}: cannot read ({error.strerror})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as error:
            raise UsageError(f"{path}:{number}: not JSON ({error.msg})") from None
        if not isinstance(case, dict) or not isinstance(case.get("completion"), str) \
                or not isinstance(case.get("solution"), str) or not isinstance(case.get("row", {}), dict):
            raise UsageError(f"{path}:{number}: expected an object with string 'completion' and 'solution' and an "
                             "optional object 'row'")
        yield number, case


def _report(verifier, gate, completion: str, row: dict) -> dict:
    composite = CompositeReward(verifiers=[verifier], gate=gate)
    breakdown = composite(completion, row)
    report = {
        "verifier": verifier.name,
        "kind": verifier.kind,
        "reward": verifier(completion, row),
        "answer": verifier.extract(completion) if verifier.extract is not None else None,
        "reference": verifier.extract(row["solution"]) if verifier.extract is not None else row["solution"],
        "format": None if gate is None else {"verifier": gate.name, "score": breakdown.parts[gate.name],
                                             "passed": breakdown.format_ok},
        "parts": dict(breakdown.parts),
        "weights": {kind: DEFAULT_WEIGHTS[kind] for kind in sorted({verifier.kind} | ({gate.kind} if gate else set()))},
        "total": breakdown.total,
        "max_total": composite.max_total,
    }
    error = _score_error(verifier, completion, row)
    if error is not None:
        report["error"] = error
    return report


def _score_error(verifier, completion: str, row: dict) -> str | None:
    """Why the verifier failed on this row (for example a box convention without an image size), if it did.

    During training such a failure silently scores the low end of the range; here it is shown.
    """
    try:
        verifier.score(completion, row)
    except Exception as error:  # noqa: BLE001 - reported to the user, not raised
        return f"{type(error).__name__}: {error}"
    return None
