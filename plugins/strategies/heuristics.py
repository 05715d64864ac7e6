"""The paper's heuristics (Algorithms 1-3): one mixture computed from the seed runs' scores.

Each returns a single answer; asking for n gives n replicates of it. "Used" means weight > 0.
When a min-max normalisation has nothing to spread (all values equal) every dataset gets 1 in
Algorithm 1 and 0 in Algorithm 3, i.e. the scores carry no preference and the answer is uniform.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from modomodo import HistoryError, Mixture, Observation, between, history_arrays, positive

from .history import NoOptions, to_mixture


def _min_max(values: np.ndarray, constant: float) -> np.ndarray:
    spread = values.max() - values.min()
    if spread <= 0:
        return np.full_like(values, constant)
    return (values - values.min()) / spread


def _require_rows(strategy: str, history: Sequence[Observation]) -> None:
    if not history:
        raise HistoryError(f"{strategy}: the history is empty; it needs scored runs (run the 'seed' strategy first)")


class Alpha:
    """Algorithm 1: per-dataset sums of In/Out scores over the runs that use it, min-max normalised, mixed by alpha."""

    @attrs.frozen(kw_only=True)
    class Options:
        alpha_single: float = attrs.field(default=1.0, validator=between(0, 1e6))  # weight of single-domain runs
        in_column: str = "in_score"

    def __init__(self, domains, objective, seed, label, alpha, alpha_single, in_column):
        self.name = label
        self.domains, self.objective, self.alpha = domains, objective, alpha
        self.alpha_single, self.in_column = float(alpha_single), in_column

    def propose(self, history: Sequence[Observation], n: int) -> list[Mixture]:
        _require_rows(self.name, history)
        wanted = [c for c, share in ((self.in_column, self.alpha), (self.objective, 1 - self.alpha)) if share > 0]
        weights, scores = history_arrays(history, self.domains, wanted)
        used = weights > 0
        run_factor = np.where(used.sum(axis=1) == 1, self.alpha_single, 1.0)
        combined = np.zeros(len(self.domains))
        for column, share in ((self.in_column, self.alpha), (self.objective, 1 - self.alpha)):
            if share > 0:
                sums = (used * (run_factor * scores[column])[:, None]).sum(axis=0)
                combined += share * _min_max(sums, constant=1.0)
        if combined.sum() <= 0:
            raise HistoryError(f"{self.name}: every dataset's combined score is 0; no mixture to propose")
        return [to_mixture(self.domains, combined)] * n


class Collinearity:
    """Algorithm 2 (coli): ridge without intercept on used-dataset indicators, divided by VIF, clipped, normalised."""

    name = "coli"
    @attrs.frozen(kw_only=True)
    class Options:
        ridge: float = attrs.field(default=1e-3, validator=positive)

    def __init__(self, domains, objective, seed, ridge):
        self.domains, self.objective, self.ridge = domains, objective, float(ridge)

    def propose(self, history: Sequence[Observation], n: int) -> list[Mixture]:
        _require_rows(self.name, history)
        weights, scores = history_arrays(history, self.domains, [self.objective])
        indicators = (weights > 0).astype(float)
        inverse = np.linalg.inv(indicators.T @ indicators + self.ridge * np.eye(len(self.domains)))
        coefficients = inverse @ indicators.T @ scores[self.objective]
        corrected = np.clip(coefficients / np.diag(inverse), 0.0, None)
        if corrected.sum() <= 0:
            raise HistoryError("coli: every VIF-corrected coefficient is <= 0; no dataset helps, no mixture to propose")
        return [to_mixture(self.domains, corrected)] * n


class LeaveOneOutNorm:
    """Algorithm 3 (norm): a dataset whose exclude-one run scored higher gets a lower weight (0.2 - 0.1 * minmax)."""

    name = "norm"
    Options = NoOptions

    def __init__(self, domains, objective, seed):
        self.domains, self.objective = domains, objective

    def propose(self, history: Sequence[Observation], n: int) -> list[Mixture]:
        m = len(self.domains)
        if m < 2:
            raise HistoryError("norm: needs at least two domains (it reads exclude-one runs)")
        weights, scores = history_arrays(history, self.domains, [self.objective])
        used = weights > 0
        excluded_scores = np.full(m, np.nan)
        for i in range(m):
            runs = (used.sum(axis=1) == m - 1) & ~used[:, i]
            if runs.any():
                excluded_scores[i] = scores[self.objective][runs].mean()  # replicates of one recipe are averaged
        missing = [self.domains[i] for i in range(m) if np.isnan(excluded_scores[i])]
        if missing:
            raise HistoryError(f"norm: no exclude-one run without {', '.join(map(repr, missing))} in the history "
                               "(it needs one run per domain that uses every other domain; see the 'seed' strategy)")
        raw = 0.2 - 0.1 * _min_max(excluded_scores, constant=0.0)
        return [to_mixture(self.domains, raw)] * n
