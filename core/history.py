"""Observation histories: read them from CSV/JSONL files, and check them before a strategy uses them.

A history file has one row per finished training run: one column per domain weight (named by the
domain) and score columns. Score columns are the objective and every column ending in ``_score`` or
``_stderr`` (``in_score``, ``out_score``, ``out_score_stderr``, ``chartqa_score``); columns whose values
are never numbers (ids, notes) are labels and are skipped; every other column is a domain weight,
unless the caller names the domains explicitly. JSONL rows may also nest the weights under ``mixture``
and scores under ``scores``, as the study's ``trials.jsonl`` does.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .errors import HistoryError
from .mixture import Mixture
from .optimizers import Observation

SCORE_SUFFIXES = ("_score", "_stderr")
# Hand-written files round weights (three domains at 0.333); anything further off is a mistake.
FILE_SUM_TOLERANCE = 1e-3


def is_score_column(name: str, objective: str) -> bool:
    return name == objective or name.endswith(SCORE_SUFFIXES)


def read_history(
    path: str | Path, objective: str = "out_score", domains: Sequence[str] | None = None
) -> tuple[list[str], list[Observation]]:
    """Read ``path`` (``.csv`` or ``.jsonl``) into (domains, observations); errors name file, line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise HistoryError(f"{path}: cannot read history file: {error.strerror or error}") from None
    if path.suffix.lower() == ".csv":
        columns, rows = _csv_rows(path, text)
    elif path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(path, text)
        columns = list(dict.fromkeys(name for _, cells in rows for name in cells))
    else:
        raise HistoryError(f"{path}: unknown history format {path.suffix!r}; expected .csv or .jsonl")
    chosen = _domain_columns(path, columns, rows, objective, domains)
    observations = [_observation(path, line, cells, chosen) for line, cells in rows]
    return chosen, observations


def _csv_rows(path: Path, text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        raise HistoryError(f"{path}: empty file; expected a header row with domain and score columns")
    header = [name.strip() for name in header]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise HistoryError(f"{path}:1: column(s) {', '.join(map(repr, duplicates))} appear more than once")
    rows = []
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            raise HistoryError(f"{path}:{reader.line_num}: {len(values)} values for {len(header)} columns")
        rows.append((reader.line_num, {name: value.strip() for name, value in zip(header, values)}))
    return header, rows


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, dict[str, object]]]:
    rows = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise HistoryError(f"{path}:{line_number}: not valid JSON ({error.msg} at column {error.colno})") from None
        if not isinstance(record, dict):
            raise HistoryError(f"{path}:{line_number}: expected a JSON object, got {type(record).__name__}")
        cells = {key: value for key, value in record.items() if key not in ("mixture", "scores")}
        for nested in ("mixture", "scores"):
            if nested in record:
                if not isinstance(record[nested], dict):
                    raise HistoryError(f"{path}:{line_number}: {nested!r} must be an object")
                cells.update(record[nested])
        rows.append((line_number, cells))
    return rows


def _number(value: object) -> float | None:
    """The value as a float, or None when it is not a number (bools are not numbers here)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _domain_columns(path, columns, rows, objective, domains) -> list[str]:
    if domains is not None:
        missing = [name for name in domains if name not in columns] if columns else []
        if missing:
            raise HistoryError(f"{path}: no column for domain(s) {', '.join(map(repr, missing))}; "
                               f"columns are: {', '.join(columns)}")
        return list(domains)
    labels = {name for name in columns
              if rows and not any(_number(cells.get(name)) is not None for _, cells in rows)}
    chosen = [name for name in columns if name not in labels and not is_score_column(name, objective)]
    if not chosen:
        raise HistoryError(f"{path}: no domain weight columns; columns are: {', '.join(columns)} "
                           "(score columns are the objective and names ending in _score or _stderr)")
    return chosen


def _observation(path: Path, line: int, cells: Mapping[str, object], domains: list[str]) -> Observation:
    weights = []
    for name in domains:
        raw = cells.get(name, "")
        weight = _number(raw)
        if weight is None or not math.isfinite(weight):
            raise HistoryError(f"{path}:{line}: column {name!r}: weight {raw!r} is not a finite number")
        if weight < 0:
            raise HistoryError(f"{path}:{line}: column {name!r}: weight {weight:g} is negative")
        weights.append(weight)
    total = math.fsum(weights)
    if abs(total - 1.0) > FILE_SUM_TOLERANCE:
        raise HistoryError(
            f"{path}:{line}: domain weights sum to {total:.6g}, not 1 (columns read as domains: "
            f"{', '.join(domains)}; name score columns *_score, or pass the domains explicitly)")
    scores = {}
    for name, raw in cells.items():
        if name in domains or raw in ("", None):
            continue
        value = _number(raw)
        if value is not None:
            scores[name] = value
    return Observation(mixture=Mixture.normalised(zip(domains, weights)), scores=scores)


def history_arrays(
    history: Sequence[Observation], domains: Sequence[str], columns: Iterable[str] = ()
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weights as an (n, m) array in ``domains`` order and each score column as an (n,) array.

    Raises HistoryError naming the row (1-based) for unknown domains, missing columns and
    non-finite scores, so a strategy never fits a model to a history it cannot use.
    """
    known = list(domains)
    weights = np.zeros((len(history), len(known)))
    columns = list(columns)
    scores = {column: np.zeros(len(history)) for column in columns}
    for row, observation in enumerate(history, start=1):
        unknown = [name for name in observation.mixture if name not in known]
        if unknown:
            raise HistoryError(f"history row {row}: domain(s) {', '.join(map(repr, unknown))} are not among "
                               f"the optimizer's domains ({', '.join(known)})")
        weights[row - 1] = observation.mixture.vector(known)
        for column in columns:
            if column not in observation.scores:
                have = ", ".join(sorted(observation.scores)) or "none"
                raise HistoryError(f"history row {row} has no {column!r} score (it has: {have})")
            value = float(observation.scores[column])
            if not math.isfinite(value):
                raise HistoryError(f"history row {row}: {column!r} is {value} (a failed run?); "
                                   "drop the row or give it a score")
            scores[column][row - 1] = value
    return weights, scores
