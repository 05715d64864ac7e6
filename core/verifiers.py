"""Reward verifiers and how they combine into one reward per completion.

A verifier maps ``(completion, row)`` to a float in its documented ``value_range`` and
never raises. Its ``kind`` says which reward weight applies: ``"format"``,
``"accuracy"`` or ``"iou"`` (paper.md section 2.4: Acc 2, IoU 2, Format 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

DEFAULT_WEIGHTS = {"accuracy": 2.0, "iou": 2.0, "format": 1.0}
VERIFIER_KINDS = ("format", "accuracy", "iou")


@attrs.frozen
class Verifier:
    """A named reward function ``score(completion, row) -> float``."""

    name: str
    score: Callable[[str, Mapping[str, Any]], float]
    kind: str = attrs.field(validator=attrs.validators.in_(VERIFIER_KINDS))
    value_range: tuple[float, float] = (0.0, 1.0)
    description: str = ""
    #: Optional: the answer this verifier reads from a completion, shown by ``modomodo reward``.
    extract: Callable[[str], str] | None = None

    def __call__(self, completion: str, row: Mapping[str, Any]) -> float:
        """Score and clamp into the documented range; a verifier bug scores the low end, never raises."""
        low, high = self.value_range
        try:
            value = float(self.score(completion, row))
        except Exception:  # noqa: BLE001 - a reward must never take training down
            return low
        if math.isnan(value):
            return low
        return min(max(value, low), high)


@attrs.frozen
class RewardBreakdown:
    """One completion's total reward and its parts (unweighted), by verifier name."""

    total: float
    parts: Mapping[str, float]
    format_ok: bool


@attrs.frozen
class CompositeReward:
    """The reward of one domain: a format gate plus weighted task verifiers.

    If the gate fails, every part is zeroed (paper.md section 2.4).
    """

    verifiers: Sequence[Verifier]
    gate: Verifier | None = None
    weights: Mapping[str, float] = attrs.field(factory=lambda: dict(DEFAULT_WEIGHTS))

    def __call__(self, completion: str, row: Mapping[str, Any]) -> RewardBreakdown:
        parts: dict[str, float] = {}
        format_ok = True
        if self.gate is not None:
            parts[self.gate.name] = self.gate(completion, row)
            format_ok = parts[self.gate.name] >= self.gate.value_range[1]
        for verifier in self.verifiers:
            parts[verifier.name] = verifier(completion, row) if format_ok else 0.0
        if not format_ok:
            parts = dict.fromkeys(parts, 0.0)
        total = sum(self._weight(name) * value for name, value in parts.items())
        return RewardBreakdown(total=total, parts=parts, format_ok=format_ok)

    def _weight(self, name: str) -> float:
        kind = self.gate.kind if self.gate is not None and name == self.gate.name else None
        if kind is None:
            kind = next(v.kind for v in self.verifiers if v.name == name)
        return self.weights.get(kind, DEFAULT_WEIGHTS[kind])

    @property
    def max_total(self) -> float:
        items = list(self.verifiers) + ([self.gate] if self.gate is not None else [])
        return sum(self._weight(v.name) * v.value_range[1] for v in items)
