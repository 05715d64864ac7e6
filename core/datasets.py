"""Dataset sources: named producers of rows in the common schema.

A row is a dict with at least ``image`` (a PIL image), ``problem`` (the prompt text,
including its output instruction) and ``solution`` (the reference, usually wrapped in
``<answer>...</answer>``). Every other key reaches the verifiers unchanged. Training
domains and evaluation benchmarks are both dataset sources.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

Row = dict[str, Any]


@attrs.frozen
class LoadRequest:
    """What a source is asked for: one split, with the user's settings for it."""

    split: str
    path: str | None = None
    limit: int | None = None
    seed: int = 0
    columns: Mapping[str, str] = attrs.field(factory=dict)
    options: Mapping[str, Any] = attrs.field(factory=dict)
    max_bad_fraction: float = 0.05


@attrs.frozen
class DatasetSource:
    """A named source. ``load(request)`` returns the rows of ``request.split``.

    It raises :class:`modomodo.DatasetError` with a message naming the file and the
    problem when the split cannot be loaded.
    """

    name: str
    load: Callable[[LoadRequest], Iterable[Row]]
    splits: tuple[str, ...] = ("train", "test")
    description: str = ""
