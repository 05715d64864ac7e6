"""The format gate (paper.md section 2.4): a failed format zeroes every other reward."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modomodo.answers import has_answer, is_strict_format


def strict_format(completion: str, row: Mapping[str, Any]) -> float:
    """1 when the whole completion is ``<think>...</think>`` then ``<answer>...</answer>``, else 0."""
    return float(is_strict_format(completion))


def lenient_format(completion: str, row: Mapping[str, Any]) -> float:
    """1 when a non-empty ``<answer>...</answer>`` can be found anywhere, else 0."""
    return float(has_answer(completion))
