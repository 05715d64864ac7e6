"""The study's ledger, ``trials.jsonl``: append-only, one JSON line per trial, the single source of truth.

Each append is one ``write`` of a whole line followed by ``fsync``, so a crash leaves at most one
partial last line; opening the ledger repairs that by truncating back to the last complete line.
A later line for the same trial id supersedes an earlier one (an ``interrupted`` trial that is
run again). Only the study driver writes it; executors hand results back to the driver.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import UsageError

FINISHED = ("ok", "failed")
STATUSES = ("ok", "failed", "interrupted")


class Ledger:
    """The writer's ledger (``repair=True``) is checked writable and repaired when opened; ``repair=False``
    (the report's) reads without touching the file. ``skipped`` lists the lines that were not a trial record
    (``file:line: why``), which are left out rather than stopping the study."""

    def __init__(self, path: Path, repair: bool = True):
        self.path = Path(path)
        self.skipped: list[str] = []
        self.repaired_bytes = 0
        if repair:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.check_writable()
            self.repaired_bytes = self._repair()

    def check_writable(self) -> None:
        """Fail now, not after a trial has trained, when the ledger cannot be appended to."""
        try:
            with open(self.path, "ab"):
                pass
        except OSError as error:
            raise UsageError(f"{self.path}: cannot write the ledger ({error.strerror}); finished trials could "
                             "not be recorded") from None

    def _repair(self) -> int:
        """Drop a partial last line left by a crash mid-append; return how many bytes were dropped."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep == len(data):
            return 0
        with open(self.path, "r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
        return len(data) - keep

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, sort_keys=False, allow_nan=True) + "\n").encode()
        with open(self.path, "ab") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def lines(self) -> Iterator[dict[str, Any]]:
        self.skipped = []
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    self.skipped.append(f"{self.path}:{number}: not a JSON line ({error.msg})")
                    continue
                problem = record_problem(record)
                if problem:
                    self.skipped.append(f"{self.path}:{number}: {problem}")
                    continue
                yield record

    def records(self) -> list[dict[str, Any]]:
        """The latest record of every trial id, in the order trials first appeared."""
        return latest_records(self.lines())

    def finished(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("status") in FINISHED]


def latest_records(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest of the ledger ``lines`` for every trial id, in the order trials first appeared."""
    latest: dict[str, dict[str, Any]] = {}
    for record in lines:
        latest.pop(record["id"], None)
        latest[record["id"]] = record
    return sorted(latest.values(), key=lambda r: r.get("index", 0))


def finished_ok(records: list[dict[str, Any]], role: str, partial: bool = False) -> list[dict[str, Any]]:
    """The successful trials of one role ("search", "confirm" or "base"), in ledger order; trials trained only
    part of the run (``fidelity`` < 1, kept for continuing) only when ``partial``."""
    return [r for r in records if r.get("role") == role and r.get("status") == "ok"
            and (partial or fidelity(r) >= 1)]


def fidelity(record: dict[str, Any]) -> float:
    """How much of the run a trial has trained (lines written before partial trials existed: all of it)."""
    return float(record.get("fidelity", 1.0))


def steps_spent(records: list[dict[str, Any]]) -> int:
    """Training steps the study's finished trials have spent (a continued trial counted once, as far as it
    got): what ``study.budget_steps`` is measured against."""
    return sum(int(r.get("steps") or 0) for r in records if r.get("status") in FINISHED and r.get("role") != "base")


def record_problem(record: Any) -> str | None:
    """Why a parsed line is not a usable trial record, or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if not isinstance(record.get("id"), str) or not record["id"]:
        return "no trial id"
    if not isinstance(record.get("index", 0), int) or isinstance(record.get("index"), bool):
        return "its index is not a whole number"
    if record.get("status") not in STATUSES:
        return f"status {record.get('status')!r}; expected one of {', '.join(STATUSES)}"
    if not isinstance(record.get("mixture"), dict) or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) for w in record["mixture"].values()):
        return "no mixture of numeric weights"
    if not isinstance(record.get("fidelity", 1.0), (int, float)) or not 0 < record.get("fidelity", 1.0) <= 1:
        return "its fidelity is not a fraction in (0, 1]"
    if record["status"] == "ok":
        scores = record.get("scores")
        if not isinstance(scores, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in scores.values()):
            return "a finished trial without numeric scores"
    return None


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see the old or the new content, never a mix."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
