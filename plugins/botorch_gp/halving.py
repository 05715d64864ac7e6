"""`halving-gp`: successive halving over mixtures a multi-fidelity Gaussian process proposes.

Each trial can be scored part-way (``eval.at``, e.g. 25%, 50%, 100% of its steps). One GP models every
evaluation as the final score plus a bias that fades as the run completes (``fidelity_bias_kernel``); its
qLogNoisyExpectedImprovement of the *final* score proposes new mixtures. New trials stop first at a point of
``eval.at``; a partial trial is continued to the next point when its score there ranks in the top 1/eta of every
trial scored there (asynchronous successive halving, continuations first).

The guard against an early score that misleads: audit trials. The first trials (uniform and
``MIN_AUDITS - 1`` more) and every ``audit_every``-th one after them train to the end whatever their early
scores, so their evaluations on the way are an unbiased sample of how early scores rank mixtures against
final ones. New trials stop first at the earliest point whose scores correlate with the final ones at least
``trust`` (Pearson, over the audits), and train to the end when no point does: the strategy is then
botorch-gp with early evaluations the model may still use. (The GP's own estimate of that correlation
was tried first: with mostly partial data it rated an early score with correlation 0.3 at 0.9.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import attrs
import numpy as np
import torch
from botorch.acquisition.analytic import PosteriorMean
from botorch.acquisition.fixed_feature import FixedFeatureAcquisitionFunction
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.sampling import SobolQMCNormalSampler

from modomodo import HistoryError, Mixture, Observation, Recommendation, Run, between, history_arrays, parse_options

from .gp import GaussianProcessOptimizer


@attrs.frozen(kw_only=True)
class HalvingOptions:
    """``optimizer.options`` of halving-gp (docs/optimizers.md)."""

    eta: int = attrs.field(default=2, validator=between(2, 16))  # continue the top 1/eta at each point
    trust: float = attrs.field(default=0.5, validator=lambda i, a, v: _correlation(v))  # see the module's note
    audit_every: int = attrs.field(default=3, validator=between(1, 1_000))  # 1: every trial trains to the end
    initial_size: int | None = attrs.field(default=None, validator=between(0, 10_000))  # default m+1
    noise: Literal["auto", "observed", "inferred"] = "auto"  # as botorch-gp's
    num_restarts: int = attrs.field(default=8, validator=between(1, 256))
    raw_samples: int = attrs.field(default=256, validator=between(1, 65_536))
    mc_samples: int = attrs.field(default=128, validator=between(1, 65_536))
    # Fixed, not options: botorch-gp's design and fitting code read them.
    initial: str = attrs.field(default="sobol", init=False)
    kernel: str = attrs.field(default="fidelity-bias", init=False)
    lengthscales: str = attrs.field(default="per-domain", init=False)
    mean: str = attrs.field(default="constant", init=False)


def _correlation(value: float) -> None:
    if not -1 <= value <= 1:
        raise ValueError(f"trust: expected a correlation from -1 (trust any early score) to 1, got {value!r}")


@attrs.frozen
class Trial:
    """One trial's evaluations, as the strategy sees them."""

    id: str | None
    mixture: Mixture
    scores: dict[float, float]

    @property
    def reached(self) -> float:
        return max(self.scores)


MIN_AUDITS = 4  # audits before an early score is trusted: uniform and the next three trials


class HalvingGP(GaussianProcessOptimizer):
    name = "halving-gp"

    @classmethod
    def create(cls, domains, objective, seed, **options):
        return cls(domains, objective, seed, parse_options(HalvingOptions, options, f"optimizer {cls.name!r}"))

    def _candidate_kernels(self) -> tuple[str, ...]:
        return ("fidelity-bias",)

    def _training_data(self, history):
        weights, target, variance = super()._training_data(history)
        gap = np.array([[1.0 - obs.fidelity] for obs in history])
        return np.hstack([weights, gap]), target, variance

    # ---- what to run next --------------------------------------------------------------------------

    def propose(self, history: Sequence[Observation], n: int) -> list[Mixture]:
        """Full runs only (a study that cannot stop runs part-way): botorch-gp on the final scores."""
        return [run.mixture for run in self.propose_runs(history, n, [1.0]) if run.trial is None]

    def propose_runs(self, history: Sequence[Observation], n: int, fidelities: Sequence[float]) -> list[Run]:
        history_arrays(history, self.domains, [self.objective])
        trials = _trials(history, self.objective)
        model = self._fitted(history)
        runs = [Run(t.mixture, _next(fidelities, t.reached), t.id) for t in self._promotions(trials, fidelities)][:n]
        fresh = n - len(runs)
        if fresh:
            start = self.start_fidelity(trials, fidelities)
            mixtures = self._new_mixtures(history, trials, model, fresh)
            runs += [Run(mixture, 1.0 if self.is_audit(len(trials) + slot) else start)
                     for slot, mixture in enumerate(mixtures)]
        return runs

    def is_audit(self, order: int) -> bool:
        """Whether the ``order``-th trial (0: uniform) trains to the end whatever its early scores."""
        return order < MIN_AUDITS or (order - MIN_AUDITS) % self.options.audit_every == self.options.audit_every - 1

    def early_correlation(self, trials: list[Trial], fidelity: float) -> tuple[float, int]:
        """Pearson correlation of the scores at ``fidelity`` with the final ones over the audit trials, and
        how many audits it rests on (nan below two)."""
        pairs = [(t.scores[fidelity], t.scores[1.0]) for order, t in enumerate(trials)
                 if self.is_audit(order) and fidelity in t.scores and 1.0 in t.scores]
        if len(pairs) < 2 or np.ptp([a for a, _ in pairs]) == 0 or np.ptp([b for _, b in pairs]) == 0:
            return float("nan"), len(pairs)
        return float(np.corrcoef(np.array(pairs).T)[0, 1]), len(pairs)

    def start_fidelity(self, trials: list[Trial], fidelities: Sequence[float]) -> float:
        """Where new trials stop first: the first point of ``eval.at`` whose scores track the final ones over
        at least MIN_AUDITS audits; the end of the run while none does (or the audits are too few)."""
        for fidelity in fidelities[:-1]:
            correlation, audits = self.early_correlation(trials, fidelity)
            if audits >= MIN_AUDITS and correlation >= self.options.trust:
                return fidelity
        return fidelities[-1]

    def _fitted(self, history):
        """The GP of every evaluation, or None while the history cannot fit one."""
        try:
            with self._seeded(history):
                return self._model(history)[0]
        except HistoryError:
            return None

    def _promotions(self, trials: list[Trial], fidelities: Sequence[float]) -> list[Trial]:
        """Partial trials whose score at their point ranks in the top 1/eta of every trial scored there, the
        furthest and best first. The scores there, not the model's final predictions, rank them: a mixture
        the acquisition has just chosen is predicted high whatever its early score says."""
        promote = []
        for point in sorted(fidelities[:-1], reverse=True):
            scored = sorted((t for t in trials if t.id is not None and point in t.scores),
                            key=lambda t: -t.scores[point])
            promote += [t for t in scored[: len(scored) // self.options.eta] if t.reached == point]
        return promote

    def _new_mixtures(self, history, trials: list[Trial], model, count: int) -> list[Mixture]:
        """The initial design while there are fewer than ``initial_size`` trials (or no model yet), then the
        joint q-batch that maximises the noisy expected improvement of the final score."""
        observed = [Observation(t.mixture, {}) for t in trials]
        if model is None:
            return self._design(observed, count)
        design = self._design(observed, min(count, self.initial_size - len(trials)))
        if len(design) == count:
            return design
        m = len(self.domains)
        tried = torch.tensor([[*t.mixture.vector(self.domains), 0.0] for t in trials], dtype=torch.float64)
        pending = (torch.tensor([[*d.vector(self.domains), 0.0] for d in design], dtype=torch.float64)
                   if design else None)
        with self._seeded(history) as call_seed:
            improvement = qLogNoisyExpectedImprovement(
                model, X_baseline=torch.unique(tried, dim=0), X_pending=pending,
                sampler=SobolQMCNormalSampler(torch.Size([self.options.mc_samples]), seed=call_seed))
            final = FixedFeatureAcquisitionFunction(improvement, d=m + 1, columns=[m], values=[0.0])
            candidates = self._maximise_on_simplex(final, count - len(design), call_seed)
        return design + [Mixture.normalised(zip(self.domains, row.tolist())) for row in candidates]

    # ---- what to recommend -------------------------------------------------------------------------

    def recommend(self, history: Sequence[Observation], over_simplex: bool = True) -> list[Recommendation]:
        """The model's best final score among the mixtures trained to the end, then over the simplex."""
        history_arrays(history, self.domains, [self.objective])
        complete = [t for t in _trials(history, self.objective) if t.reached >= 1.0]
        if not complete:
            raise HistoryError("halving-gp: no trial has been trained to the end yet")
        m = len(self.domains)
        with self._seeded(history) as call_seed:
            model, _ = self._fitted_model(history, call_seed)
            points = torch.unique(torch.tensor([t.mixture.vector(self.domains) for t in complete],
                                               dtype=torch.float64), dim=0)
            tried = len(points)
            if over_simplex:
                final = FixedFeatureAcquisitionFunction(PosteriorMean(model), d=m + 1, columns=[m], values=[0.0])
                points = torch.cat([points, self._maximise_on_simplex(final, 1, call_seed)])
            with torch.no_grad():
                posterior = model.posterior(torch.cat([points, torch.zeros(len(points), 1, dtype=torch.float64)], -1))
                mean, sd = posterior.mean.squeeze(-1), posterior.variance.squeeze(-1).clamp_min(0).sqrt()
        pick = int(torch.argmax(mean[:tried]))
        picks = [(pick, "tried")] + ([(tried, "simplex")] if over_simplex else [])
        return [Recommendation(mixture=Mixture.normalised(zip(self.domains, points[i].tolist())), among=among,
                               predicted=float(mean[i]), sd=float(sd[i])) for i, among in picks]


def _trials(history: Sequence[Observation], objective: str) -> list[Trial]:
    """Evaluations grouped by trial (an observation without a trial id is a trial of its own)."""
    grouped: dict[object, Trial] = {}
    for index, obs in enumerate(history):
        key = obs.trial if obs.trial is not None else ("row", index)
        trial = grouped.setdefault(key, Trial(obs.trial, obs.mixture, {}))
        trial.scores[obs.fidelity] = float(obs.scores[objective])
    return list(grouped.values())


def _next(fidelities: Sequence[float], reached: float) -> float:
    return next(f for f in fidelities if f > reached)

