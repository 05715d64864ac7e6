"""The paper's mixture strategies as bundled optimizers: baselines, seed design, heuristics, quadratic surrogates."""

from __future__ import annotations

import attrs

from modomodo import OptimizerFactory, hookimpl, parse_options

from .heuristics import Alpha, Collinearity, LeaveOneOutNorm
from .quadratic import Quadratic, QuadSurface
from .simple import RandomDirichlet, SeedDesign, Uniform


def _factory(name: str, strategy, description: str, **fixed) -> OptimizerFactory:
    """An OptimizerFactory whose ``create`` converts the options into the strategy's typed ``Options``."""

    def create(domains, objective="out_score", seed=0, **options):
        chosen = attrs.asdict(parse_options(strategy.Options, options, f"optimizer {name!r}"), recurse=False)
        return strategy(list(domains), objective, int(seed), **fixed, **chosen)

    return OptimizerFactory(name=name, create=create, description=description)


@hookimpl
def register_mixture_optimizers(register):
    def alpha(name, description, weight):
        return _factory(name, Alpha, description, label=name, alpha=weight)

    for factory in (
        _factory("uniform", Uniform, "every domain weighted equally (the paper's 'All')"),
        _factory("random", RandomDirichlet, "Dirichlet random search (option: concentration, default 1)"),
        _factory("seed", SeedDesign, "the paper's 2m+1 seed mixtures: singles, exclude-ones, uniform"),
        alpha("alpha-in", "Algorithm 1 with alpha = 1 (In-Score)", 1.0),
        alpha("alpha-out", "Algorithm 1 with alpha = 0 (Out-Score)", 0.0),
        alpha("alpha-bal", "Algorithm 1 with alpha = 0.5", 0.5),
        _factory("coli", Collinearity, "Algorithm 2: VIF-corrected ridge on used-dataset indicators"),
        _factory("norm", LeaveOneOutNorm, "Algorithm 3: weights from the exclude-one runs' scores"),
        _factory("quad-surface", QuadSurface, "Algorithm 4 as written: OLS quadratic, Gaussian candidates"),
        _factory("quadratic", Quadratic, "Scheffe quadratic, ridge by leave-one-out, global maximiser"),
    ):
        register(factory)
