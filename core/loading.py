"""From config entries to what trials use: rows from dataset sources, rewards from verifiers."""

from __future__ import annotations

from typing import Any

from .config import BenchmarkConfig, DomainConfig, SourceEntry
from .datasets import LoadRequest, Row
from .errors import DatasetError
from .plugins import get
from .verifiers import CompositeReward, Verifier

REQUIRED_COLUMNS = ("image", "problem", "solution")  # the common row schema (docs/datasets.md)


def load_rows(name: str, entry: SourceEntry, seed: int, limit: int | None = None) -> list[Row]:
    """Rows of one domain or benchmark, each tagged with ``domain`` and its ``bbox`` convention."""
    source = get("datasets", entry.source)
    if entry.split not in source.splits:
        raise DatasetError(f"{name}: source {entry.source!r} has no split {entry.split!r} (it has {', '.join(source.splits)})")
    request = LoadRequest(
        split=entry.split,
        path=entry.path,
        limit=entry.limit or limit,
        seed=seed,
        columns=dict(entry.columns),
        options=dict(entry.options),
        max_bad_fraction=entry.max_bad_fraction,
    )
    rows = list(source.load(request))
    if not rows:
        raise DatasetError(f"{name}: source {entry.source!r} returned no rows for split {entry.split!r}")
    for index, row in enumerate(rows):
        missing = [column for column in REQUIRED_COLUMNS if column not in row]
        if missing:
            raise DatasetError(f"{name}: row {index} of source {entry.source!r} (split {entry.split!r}) has no "
                               f"{', '.join(missing)} column; every row needs {', '.join(REQUIRED_COLUMNS)} "
                               "(image may be None for a text-only row; `columns` maps other names)")
    for row in rows:
        row.setdefault("domain", name)
        row.setdefault("bbox", entry.bbox)
    return rows


def gate_verifier(entry: SourceEntry) -> Verifier | None:
    return None if entry.format == "none" else get("verifiers", entry.format)


def domain_reward(entry: DomainConfig) -> CompositeReward:
    """The paper's reward for a domain: format gate, then weighted task verifiers (Acc 2, IoU 2, Format 1)."""
    weights = {"accuracy": entry.weights.accuracy, "iou": entry.weights.iou, "format": entry.weights.format}
    return CompositeReward(
        verifiers=[get("verifiers", name) for name in entry.verifier],
        gate=gate_verifier(entry),
        weights=weights,
    )


def benchmark_metric(entry: BenchmarkConfig):
    """Per-example score of a benchmark: its metric verifier, zero when the format gate fails."""
    metric = get("verifiers", entry.verifier)
    gate = gate_verifier(entry)

    def score(completion: str, row: dict[str, Any]) -> float:
        if gate is not None and gate(completion, row) < gate.value_range[1]:
            return 0.0
        return metric(completion, row)

    return score
