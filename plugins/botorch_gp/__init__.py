"""A BoTorch Gaussian-process optimizer (`botorch-gp`). torch and botorch load only when it is created."""

from __future__ import annotations

from modomodo import OptimizerFactory, hookimpl


def create(domains, objective="out_score", seed=0, **options):
    from .gp import GaussianProcessOptimizer

    return GaussianProcessOptimizer.create(domains, objective, seed, **options)


@hookimpl
def register_mixture_optimizers(register):
    register(OptimizerFactory(
        name="botorch-gp",
        create=create,
        description="SingleTaskGP + qLogNoisyExpectedImprovement on the simplex, q-batch proposals",
    ))
