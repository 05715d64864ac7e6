"""``modomodo check CONFIG``: validate a config, then dry-run its data and rewards.

The dry run loads every domain and benchmark as a trial would, scores each row's reference
solution through the entry's reward (it must earn full reward) and a few corrupted answers
per row (a wrong letter, number or word, shifted boxes, missing tags: they must earn less).
Exit code 2 on a bad config, 1 when any check fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..answers import LETTERS, answer_span, completion
from ..config import BenchmarkConfig, Config, DomainConfig, load_config
from ..errors import ModomodoError
from ..loading import benchmark_metric, domain_reward, load_rows
from ..plugins import get
from ..preflight import preflight

REFERENCE_THINK = "reference"
BOX = re.compile(r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]")
LETTER = re.compile(r"^\s*\(?([A-H])\)?\.?\s*$")
NUMBER = re.compile(r"^\s*-?\d+(?:\.\d+)?\s*$")
SHOWN_PROBLEMS = 3
TOLERANCE = 1e-9


@attrs.define
class EntryReport:
    """What the dry run found for one domain or benchmark."""

    name: str
    role: str
    source: str
    split: str
    rows: int = 0
    reference_full: int = 0
    reference_total: float = 0.0
    corrupted: int = 0
    corrupted_below: int = 0
    corrupted_total: float = 0.0
    maximum: float = 1.0
    scored: bool = False
    problems: list[str] = attrs.Factory(list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.reference_full == self.rows and self.corrupted_below == self.corrupted


@click.command(name="check")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Rows to load per domain and benchmark (default: as a trial loads them).")
def command(config_path, limit):
    """Validate CONFIG (exit 2 if invalid), then load every dataset and score references and corrupted answers
    through each entry's reward (exit 1 if any check fails)."""
    console = Console(width=max(Console().width, 120))
    config = load_config(config_path)
    console.print(f"[green]ok[/green] {config_path}: valid config, {len(config.domains)} domains, "
                  f"{len(config.benchmarks)} benchmarks")
    failures = preflight(config)
    for failure in failures:
        console.print(f"[red]failed[/red] {escape(failure)}", highlight=False, soft_wrap=True)
    reports = []
    entries = [("domain", n, e) for n, e in config.domains.items()] + \
              [("benchmark", n, e) for n, e in config.benchmarks.items()]
    for role, name, entry in entries:
        with console.status(f"loading and scoring {name}"):
            reports.append(dry_run(config, role, name, entry, limit))
    console.print(_summary(reports))
    for report in reports:
        for problem in report.problems:
            console.print(f"[red]failed[/red] {report.name}: {escape(problem)}", highlight=False, soft_wrap=True)
    if failures or not all(report.ok for report in reports):
        raise SystemExit(1)
    console.print("[green]ok[/green] every reference earned full reward and every corrupted answer less")


def dry_run(config: Config, role: str, name: str, entry: DomainConfig | BenchmarkConfig,
            limit: int | None) -> EntryReport:
    """Load one entry's rows as a trial would and score references and corrupted answers through its reward."""
    group = "domain" if role == "domain" else f"{entry.group} bench"
    report = EntryReport(name=name, role=group, source=entry.source, split=entry.split)
    try:
        rows = load_rows(name, entry, seed=config.study.seed, limit=limit or (None if role == "domain" else config.eval.limit))
        report.rows = len(rows)
        if role == "domain":
            reward = domain_reward(entry)
            score, report.maximum = (lambda c, r: reward(c, r).total), reward.max_total
        else:
            score, report.maximum = benchmark_metric(entry), get("verifiers", entry.verifier).value_range[1]
    except ModomodoError as error:
        report.problems.append(str(error))
        return report
    except Exception as error:  # noqa: BLE001 - a plugin's bug is a failed check, not a crash of the dry run
        report.problems.append(f"source {entry.source!r} raised {type(error).__name__}: {error}")
        return report
    _score_rows(report, rows, score, gated=entry.format != "none")
    report.scored = True
    return report


def _score_rows(report: EntryReport, rows: list[dict[str, Any]], score: Callable[[str, Mapping], float],
                gated: bool) -> None:
    shown = 0
    for index, row in enumerate(rows):
        solution = str(row.get("solution", ""))
        found = answer_span(solution)
        value = score(completion(REFERENCE_THINK, solution if found is None else found), row)
        report.reference_total += value
        if value >= report.maximum - TOLERANCE:
            report.reference_full += 1
        elif shown < SHOWN_PROBLEMS:
            shown += 1
            report.problems.append(f"row {index}: reference {solution[:80]!r} scored {value:g} of {report.maximum:g}")
        for label, corrupted in corruptions(solution, row, gated):
            value = score(corrupted, row)
            report.corrupted += 1
            report.corrupted_total += value
            if value < report.maximum - TOLERANCE:
                report.corrupted_below += 1
            elif shown < SHOWN_PROBLEMS:
                shown += 1
                report.problems.append(f"row {index}: {label} {corrupted[:80]!r} still scored full reward {value:g}")


def corruptions(solution: str, row: Mapping[str, Any], gated: bool) -> list[tuple[str, str]]:
    """Answers that must earn less than the reference: a wrong one, and (under a format gate) one without tags."""
    found = answer_span(solution)
    answer = solution if found is None else found
    results = []
    wrong = wrong_answer(answer, row.get("image"))
    if wrong is not None:
        results.append((wrong[0], completion(REFERENCE_THINK, wrong[1])))
    if gated:
        results.append(("missing tags", f"reference {answer}"))
    return results


def wrong_answer(answer: str, image: Any = None) -> tuple[str, str] | None:
    """A plausible but wrong version of ``answer``: shifted boxes, the next letter, another number or word."""
    if BOX.search(answer):
        width, height = getattr(image, "size", (None, None))
        return "shifted box", BOX.sub(lambda m: _shift(m, width, height), answer)
    letter = LETTER.match(answer)
    if letter:
        return "wrong letter", LETTERS[(LETTERS.index(letter.group(1)) + 1) % len(LETTERS)]
    if NUMBER.match(answer):
        value = float(answer)
        return "wrong number", f"{int(value) + 1 if value.is_integer() else value + 1:g}"
    text = answer.strip()
    if text.lower() in ("yes", "no"):
        return "wrong word", "no" if text.lower() == "yes" else "yes"
    return ("wrong word", f"not {text}") if text else None


def _shift(match: re.Match, width: int | None, height: int | None) -> str:
    """Move a box by its own size, staying inside the image where it can: no overlap with the original."""
    x1, y1, x2, y2 = (float(v) for v in match.groups())
    dx, dy = x2 - x1 + 1, y2 - y1 + 1
    if width is not None and x2 + dx > width:
        dx = -dx
    if height is not None and y2 + dy > height:
        dy = -dy
    return "[" + ", ".join(f"{v:g}" for v in (x1 + dx, y1 + dy, x2 + dx, y2 + dy)) + "]"


def _summary(reports: list[EntryReport]) -> Table:
    table = Table(title="dry run: references must earn full reward, corrupted answers less")
    for column in ("entry", "role", "source", "split", "rows", "ref full", "ref mean", "bad < full", "bad mean", ""):
        table.add_column(column, justify="right" if column.startswith(("rows", "ref", "bad")) else "left")
    for r in reports:
        table.add_row(
            r.name, r.role, r.source, r.split, str(r.rows),
            *((_percent(r.reference_full, r.rows), _mean(r.reference_total, r.rows),
               _percent(r.corrupted_below, r.corrupted), _mean(r.corrupted_total, r.corrupted))
              if r.scored else ("-",) * 4),
            "[green]ok[/green]" if r.ok else "[red]FAILED[/red]",
        )
    return table


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _mean(total: float, count: int) -> str:
    return f"{total / count:.3g}" if count else "-"
