"""Helpers every bundled strategy shares: typed options, seeded randomness, vectors to mixtures."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from modomodo import Mixture, Observation

# Two mixtures closer than this (largest coordinate difference) count as the same design.
SAME_MIXTURE = 1e-6
# Solvers leave weights like 3e-16 where they mean 0.
ROUND_OFF = 1e-9


@attrs.frozen(kw_only=True)
class NoOptions:
    """The options of a strategy that takes none."""


def ridge_grid(instance, attribute, value) -> None:
    """[low, high, count]: a log-spaced grid of penalties, 0 < low <= high, count >= 1."""
    if len(value) != 3 or not 0 < value[0] <= value[1] or not value[2] >= 1 or value[2] != int(value[2]):
        raise ValueError(f"{attribute.name}: expected [low, high, count] with 0 < low <= high and a whole count >= 1, "
                         f"got {value!r}")


def rng_for(seed: int, history: Sequence[Observation]) -> np.random.Generator:
    """A generator fixed by the seed and the history length, so a resumed study proposes the same mixtures."""
    return np.random.default_rng([seed, len(history)])


def to_mixture(domains: Sequence[str], vector: np.ndarray) -> Mixture:
    """A solver's vector as a Mixture: round-off (below 1e-9, or negative) set to 0, rescaled to sum to 1."""
    vector = np.asarray(vector, dtype=float)
    return Mixture.normalised(zip(domains, np.where(vector < ROUND_OFF, 0.0, vector)))


def is_observed(vector: np.ndarray, observed: np.ndarray) -> bool:
    return bool(len(observed)) and bool(np.any(np.max(np.abs(observed - vector), axis=1) < SAME_MIXTURE))


def seed_design(m: int) -> np.ndarray:
    """The paper's seed mixtures in its order: the m singles, the m exclude-ones, then uniform (no repeats)."""
    singles = list(np.eye(m))
    exclude_one = [(1.0 - np.eye(m)[i]) / (m - 1) for i in range(m)] if m > 1 else []
    designs: list[np.ndarray] = []
    for design in singles + exclude_one + [np.full(m, 1.0 / m)]:
        if not is_observed(design, np.array(designs)):
            designs.append(design)
    return np.array(designs)
