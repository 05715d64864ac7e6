"""Model-free strategies: the uniform baseline, Dirichlet random search, and the paper's seed design."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from modomodo import HistoryError, Mixture, Observation, history_arrays, positive

from .history import NoOptions, is_observed, rng_for, seed_design, to_mixture


class Uniform:
    """Every domain weighted equally: the paper's "All" baseline. Asking for n gives n replicates."""

    Options = NoOptions

    def __init__(self, domains, objective, seed):
        self.domains = domains

    def propose(self, history: Sequence[Observation], n: int) -> list[Mixture]:
        history_arrays(history, self.domains)
        return [Mixture.uniform(self.domains)] * n


class RandomDirichlet:
    """Independent Dirichlet(concentration) draws; concentration 1 is uniform on the simplex."""

    @attrs.frozen(kw_only=True)
    class Options:
        concentration: float = attrs.field(default=1.0, validator=positive)

    def __init__(self, domains, objective, seed, concentration):
        self.domains, self.seed, self.concentration = domains, seed, float(concentration)

    def propose(self, history: Sequence[Observation], n: int) -> list[Mixture]:
        history_arrays(history, self.domains)
        draws = rng_for(self.seed, history).dirichlet(np.full(len(self.domains), self.concentration), size=n)
        return [to_mixture(self.domains, draw) for draw in draws]


class SeedDesign:
    """The paper's 2m+1 seed runs (singles, exclude-ones, uniform), skipping those already in the history.

    Returns at most n designs; fewer when the design is nearly used up, so a study can run it first and
    then hand over to a model-based strategy. Raises HistoryError once every design has been observed.
    """

    Options = NoOptions

    def __init__(self, domains, objective, seed):
        self.domains = domains

    def propose(self, history: Sequence[Observation], n: int) -> list[Mixture]:
        observed, _ = history_arrays(history, self.domains)
        remaining = [design for design in seed_design(len(self.domains)) if not is_observed(design, observed)]
        if not remaining:
            raise HistoryError(f"seed: all {len(seed_design(len(self.domains)))} seed mixtures are already in the "
                               "history; switch to a model-based strategy")
        return [to_mixture(self.domains, design) for design in remaining[:n]]
