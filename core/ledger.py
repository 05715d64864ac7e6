"""The study's ledger, ``trials.jsonl``: append-only, one JSON line per trial, the single source of truth.

Each append is one ``write`` of a whole line followed by ``fsync``, so a crash leaves at most one
partial last line; opening the ledger repairs that by truncating back to the last complete line.
A later line for the same trial id supersedes an earlier one (an ``interrupted`` trial that is
run again). Only the study driver writes it; executors hand results back to the driver.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FINISHED = ("ok", "failed")


class Ledger:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = self._repair()

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
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{self.path}:{number}: not a JSON line ({error.msg})") from None

    def records(self) -> list[dict[str, Any]]:
        """The latest record of every trial id, in the order trials first appeared."""
        latest: dict[str, dict[str, Any]] = {}
        for record in self.lines():
            latest.pop(record["id"], None)
            latest[record["id"]] = record
        return sorted(latest.values(), key=lambda r: r.get("index", 0))

    def finished(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("status") in FINISHED]


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see the old or the new content, never a mix."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
