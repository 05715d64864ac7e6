"""Mixture optimizers: ask/tell strategies that propose the next mixtures to try."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from .mixture import Mixture


@attrs.frozen
class Observation:
    """One finished trial as an optimizer sees it: the mixture and its scores by column name."""

    mixture: Mixture
    scores: Mapping[str, float]


class MixtureOptimizer(Protocol):
    def propose(self, history: Sequence[Observation], n: int) -> list[Mixture]:
        """Return ``n`` mixtures over the optimizer's domains; raise HistoryError if history is unusable."""


@attrs.frozen
class OptimizerFactory:
    """A named strategy. ``create(domains, objective, seed, **options)`` builds a MixtureOptimizer."""

    name: str
    create: Callable[..., MixtureOptimizer]
    description: str = ""

    def __call__(self, domains: Sequence[str], objective: str = "out_score", seed: int = 0, **options: Any):
        return self.create(domains=list(domains), objective=objective, seed=seed, **options)
