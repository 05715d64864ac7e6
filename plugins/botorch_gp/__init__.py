"""BoTorch Gaussian-process optimizers: `botorch-gp`, and `halving-gp` for partial trials. torch and botorch
load only when one is created."""

from __future__ import annotations

from modomodo import OptimizerFactory, hookimpl


def create(domains, objective="out_score", seed=0, **options):
    from .gp import GaussianProcessOptimizer

    return GaussianProcessOptimizer.create(domains, objective, seed, **options)


def create_halving(domains, objective="out_score", seed=0, **options):
    from .halving import HalvingGP

    return HalvingGP.create(domains, objective, seed, **options)


@hookimpl
def register_mixture_optimizers(register):
    register(OptimizerFactory(
        name="botorch-gp",
        create=create,
        description="SingleTaskGP + qLogNoisyExpectedImprovement on the simplex, q-batch proposals",
    ))
    register(OptimizerFactory(
        name="halving-gp",
        create=create_halving,
        description="multi-fidelity: successive halving of GP-proposed mixtures scored part-way (eval.at)",
    ))
