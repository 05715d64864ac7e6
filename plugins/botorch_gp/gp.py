"""`botorch-gp`: a Gaussian process of score versus mixture, proposals by qLogNoisyExpectedImprovement (or, as
an option, by the knowledge gradient of the recommendation).

The GP (SingleTaskGP, float64, standardised outcome, BoTorch's dimension-scaled priors; by default one
lengthscale for all domains and a ridge Scheffe quadratic as its prior mean, the kernel modelling what that
misses) is refitted on every call; the acquisition is optimised on the simplex with the equality constraint
sum(w) = 1 and bounds [0, 1]. q > 1 proposals come from one joint q-batch, so they are distinct and spread
by the acquisition itself; an already-observed mixture is proposed again only when the acquisition values
re-measuring it most. Everything is seeded by (seed, history length): a resumed study asks
the same question and gets the same answer.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from typing import Literal

import attrs

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import PosteriorMean
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import InputTransform
from botorch.models.transforms.outcome import Standardize
from botorch.optim import optimize_acqf
from botorch.optim.initializers import gen_batch_initial_conditions
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.sampling import draw_sobol_normal_samples, sample_simplex
from botorch.utils.transforms import concatenate_pending_points, t_batch_mode_transform
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.distributions import MultivariateNormal
from gpytorch.kernels import LinearKernel, RBFKernel, ScaleKernel
from gpytorch.likelihoods import FixedNoiseGaussianLikelihood
from gpytorch.means import Mean
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior
from linear_operator.utils.cholesky import psd_safe_cholesky

from modomodo import (HistoryError, Mixture, Observation, Recommendation, UsageError, between, get_component,
                      history_arrays, parse_options)

KERNELS = ("scheffe-matern", "rbf")  # what "auto" chooses between, by leave-one-out predictive density
LENGTHSCALES = {"shared": "one lengthscale", "per-domain": "a lengthscale per domain"}  # as diagnostics name them


@attrs.frozen(kw_only=True)
class GPOptions:
    """``optimizer.options`` of botorch-gp (docs/optimizers.md); the bounds keep a proposal from taking hours."""

    initial: Literal["sobol", "seed"] = "sobol"  # the design used while the history is short
    initial_size: int | None = attrs.field(default=None, validator=between(0, 10_000))  # default m+1 / 2m+1
    noise: Literal["auto", "observed", "inferred"] = "auto"  # how <objective>_stderr columns are used
    kernel: Literal["rbf", "matern", "scheffe-matern", "auto"] = "rbf"
    lengthscales: Literal["shared", "per-domain"] = "shared"  # the RBF or Matern part's: one for all domains, or ARD
    mean: Literal["constant", "quadratic"] = "quadratic"  # the GP's prior mean: a learnt level, or a ridge quadratic
    acquisition: Literal["noisy-ei", "knowledge-gradient"] = "noisy-ei"  # what a proposal maximises
    recommendation: Literal["proposal-model", "evidence", "auto"] = "proposal-model"  # the GP whose posterior mean picks
    # the posterior probability with which the pick must beat the uniform mixture, where that was tried, to be
    # recommended instead of it (0: the pick is recommended however uncertain its lead)
    confidence_over_uniform: float = attrs.field(default=0.0, validator=between(0, 0.999))
    num_restarts: int = attrs.field(default=8, validator=between(1, 256))
    raw_samples: int = attrs.field(default=256, validator=between(1, 65_536))
    mc_samples: int = attrs.field(default=128, validator=between(1, 65_536))


MINIMUM_TO_FIT = 2
MAX_PROPOSALS = 64
# recommendation = "evidence": the settings its GP is chosen among by marginal likelihood (all 504 combinations)
EVIDENCE_GRID = {
    "lengthscale": (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0),  # the RBF part's; the simplex's diameter is 1.41
    "quadratic_share": (0.0, 0.25, 0.5, 0.75, 0.9, 0.97, 1.0),  # of the signal's variance, the Bayesian quadratic's
    "noise_share": (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9),  # of the standardised scores' variance
}


class GaussianProcessOptimizer:
    name = "botorch-gp"

    def __init__(self, domains, objective, seed, options: GPOptions):
        self.domains, self.objective, self.seed = list(domains), objective, int(seed)
        self.options = options
        m = len(self.domains)
        default_size = 2 * m + 1 if options.initial == "seed" else m + 1
        self.initial_size = options.initial_size if options.initial_size is not None else default_size
        self._last_fit = None  # (the history's arrays, (model, inputs)): recommend() after propose() fits once

    @classmethod
    def create(cls, domains, objective, seed, **options):
        return cls(domains, objective, seed, parse_options(GPOptions, options, f"optimizer {cls.name!r}"))

    # ---- the initial design ------------------------------------------------------------------------

    def _design(self, history: Sequence[Observation], count: int) -> list[Mixture]:
        """The next ``count`` points of the initial design that the history does not hold yet."""
        if count <= 0:
            return []
        if self.options.initial == "seed":
            try:
                return get_component("optimizers", "seed")(self.domains).propose(history, count)
            except HistoryError:  # every seed mixture observed already: the GP takes it from here
                return []
        m = len(self.domains)
        points = torch.vstack([torch.full((1, m), 1.0 / m, dtype=torch.float64),
                               sample_simplex(m, max(self.initial_size, len(history) + count) - 1, qmc=True,
                                              seed=self.seed, dtype=torch.float64)]).numpy()
        observed = [obs.mixture.vector(self.domains) for obs in history]
        fresh = [p for p in points if not any(np.max(np.abs(p - o)) < 1e-9 for o in observed)]
        return [Mixture.normalised(zip(self.domains, point)) for point in fresh[:count]]

    # ---- the model -----------------------------------------------------------------------------

    def _training_data(self, history):
        stderr_column = f"{self.objective}_stderr"
        weights, scores = history_arrays(history, self.domains, [self.objective])
        with_stderr = [stderr_column in obs.scores for obs in history]
        use_stderr = self.options.noise != "inferred" and all(with_stderr) and bool(history)
        if self.options.noise == "observed" and not use_stderr:
            missing = [str(row) for row, has in enumerate(with_stderr, start=1) if not has]
            raise HistoryError(f"botorch-gp: noise = 'observed' needs a {stderr_column!r} score in every row; "
                               f"rows without it: {', '.join(missing[:10])}")
        variance = history_arrays(history, self.domains, [stderr_column])[1][stderr_column] ** 2 if use_stderr else None
        return weights, scores[self.objective], variance

    def _model(self, history):
        """The fitted GP: the ``kernel`` option's, or for ``auto`` the candidate whose exact leave-one-out
        predictions give the observed scores the highest log density."""
        weights, target, variance = self._fit_data(history)
        key = (weights.tobytes(), target.tobytes(), None if variance is None else variance.tobytes())
        if self._last_fit is not None and self._last_fit[0] == key:
            return self._last_fit[1]
        train_x = torch.tensor(weights, dtype=torch.float64)
        train_y = torch.tensor(target, dtype=torch.float64).unsqueeze(-1)
        kernels = self._candidate_kernels()
        prior = self._quadratic_prior(history) if self.options.mean == "quadratic" else None
        fitted = [self._fit(kernel, train_x, train_y, variance, prior) for kernel in kernels]
        model = max(fitted, key=lambda candidate: loo_log_density(candidate)) if len(fitted) > 1 else fitted[0]
        self._last_fit = (key, (model, train_x))
        return model, train_x

    def _fitted_model(self, history, call_seed: int):
        """``_model``, then torch reseeded: what follows draws the same numbers whether the GP was fitted now or
        remembered from the last call on the same history."""
        fitted = self._model(history)
        torch.manual_seed(call_seed)
        return fitted

    def _fit_data(self, history):
        """``_training_data`` after the checks every fit needs: enough runs, and scores that differ."""
        if len(history) < MINIMUM_TO_FIT:
            raise HistoryError(f"botorch-gp: needs at least {MINIMUM_TO_FIT} scored runs to fit a GP, "
                               f"the history has {len(history)}")
        weights, target, variance = self._training_data(history)
        if np.ptp(target) == 0:
            raise HistoryError(f"botorch-gp: every run has the same {self.objective} ({target[0]:g}); "
                               "a GP cannot learn anything from that")
        return weights, target, variance

    def _evidence_model(self, history):
        """``evidence_model`` on the history, as ``(model, inputs)``."""
        weights, target, variance = self._fit_data(history)
        train_x = torch.tensor(weights, dtype=torch.float64)
        train_y = torch.tensor(target, dtype=torch.float64).unsqueeze(-1)
        variance = None if variance is None else torch.tensor(variance, dtype=torch.float64)
        return evidence_model(train_x, train_y, variance, learn_noise=self.options.noise != "observed"), train_x

    def _candidate_kernels(self) -> tuple[str, ...]:
        return KERNELS if self.options.kernel == "auto" else (self.options.kernel,)

    def _fit(self, kernel: str, train_x, train_y, variance, prior: dict | None = None):
        """A fitted GP with the given kernel; ``prior`` (from ``_quadratic_prior``) replaces the constant mean."""
        likelihood = None
        if variance is not None:
            scaled_variance = torch.tensor(variance, dtype=torch.float64) / train_y.std() ** 2
            # "observed": exactly the recorded stderr; "auto": it is a floor, and the GP learns the extra noise
            # (seed-to-seed spread) that an evaluation stderr does not see.
            likelihood = FixedNoiseGaussianLikelihood(noise=scaled_variance.clamp_min(1e-8),
                                                      learn_additional_noise=self.options.noise == "auto")
        m, shared = train_x.shape[-1], self.options.lengthscales == "shared"
        if kernel == "scheffe-matern":
            model = SingleTaskGP(train_x, train_y, likelihood=likelihood, outcome_transform=Standardize(m=1),
                                 input_transform=ScheffeFeatures(), covar_module=scheffe_matern_kernel(m, shared))
        elif kernel == "matern":
            model = SingleTaskGP(train_x, train_y, likelihood=likelihood, outcome_transform=Standardize(m=1),
                                 covar_module=ScaleKernel(dimension_scaled_kernel(m, matern=True, shared=shared)))
        elif kernel == "fidelity-bias":
            model = SingleTaskGP(train_x, train_y, likelihood=likelihood, outcome_transform=Standardize(m=1),
                                 covar_module=fidelity_bias_kernel(m - 1))
        else:
            model = SingleTaskGP(train_x, train_y, likelihood=likelihood, outcome_transform=Standardize(m=1),
                                 covar_module=dimension_scaled_kernel(m, matern=False, shared=shared))
        model.kernel_name = f"{kernel} kernel" + ("" if kernel == "fidelity-bias" else
                                                  f" ({LENGTHSCALES[self.options.lengthscales]})")
        model.has_quadratic_mean = prior is not None
        if prior is not None:
            transform = model.outcome_transform
            model.mean_module = ScheffeMean(**prior, shift=transform.means.item(), scale=transform.stdvs.item())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fit retries and jitter notices; a failed fit still raises
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        model.eval()
        return model

    def _quadratic_prior(self, history) -> dict | None:
        """The `quadratic` strategy's fit (Scheffe terms, ridge chosen by exact leave-one-out) as the GP's fixed
        prior mean, the kernel modelling what it misses; None (the constant mean) when it cannot fit yet.
        Where the runs do not support a quadratic, leave-one-out picks a large penalty and it is nearly flat."""
        surface = get_component("optimizers", "quadratic")(self.domains, objective=self.objective)
        try:
            coefficients = surface.diagnostics(history)["coefficients"]
        except HistoryError:
            return None
        rows, cols = scheffe_pairs(len(self.domains))
        return {"intercept": coefficients["intercept"],
                "linear": [coefficients[d] for d in self.domains],
                "products": [coefficients[f"{self.domains[i]}*{self.domains[j]}"] for i, j in zip(rows, cols)]}

    def propose(self, history: Sequence[Observation], n: int) -> list[Mixture]:
        if not 1 <= n <= MAX_PROPOSALS:
            raise UsageError(f"optimizer {self.name!r}: {n} proposals at once; expected 1 to {MAX_PROPOSALS} (one "
                             "joint q-batch of more takes hours to optimise)")
        history_arrays(history, self.domains)
        wanted = n if len(history) < MINIMUM_TO_FIT else min(n, self.initial_size - len(history))
        design = self._design(history, wanted)
        if len(design) == n:
            return design
        with self._seeded(history) as call_seed:
            model, train_x = self._fitted_model(history, call_seed)
            pending = (torch.tensor([d.vector(self.domains) for d in design], dtype=torch.float64)
                       if design else None)
            if self.options.acquisition == "knowledge-gradient":
                acquisition = TriedKnowledgeGradient(model, torch.unique(train_x, dim=0), self.options.mc_samples,
                                                     call_seed, X_pending=pending)
            else:
                acquisition = qLogNoisyExpectedImprovement(
                    model, X_baseline=train_x, X_pending=pending,
                    sampler=SobolQMCNormalSampler(torch.Size([self.options.mc_samples]), seed=call_seed))
            candidates = self._maximise_on_simplex(acquisition, n - len(design), call_seed)
        return design + [Mixture.normalised(zip(self.domains, row.tolist())) for row in candidates]

    @contextlib.contextmanager
    def _seeded(self, history: Sequence[Observation]):
        """Torch's randomness fixed by (seed, history length), so a resumed study gets the same answer; fitting
        and acquisition warnings (jitter added, optimizer restarts) are routine at these sizes."""
        call_seed = self.seed * 100_003 + len(history)
        with torch.random.fork_rng(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.manual_seed(call_seed)
            yield call_seed

    def _maximise_on_simplex(self, acquisition, q: int, call_seed: int):
        """The acquisition's best q points with weights in [0, 1] summing to 1 (round-off below 1e-9 to 0).

        Restarts start from the best of ``raw_samples`` scrambled-Sobol q-batches on the simplex (the uniform
        distribution BoTorch's hit-and-run polytope sampler approximates, at a fraction of its cost: that
        sampler was half of a proposal's time), and a start is kept when SLSQP ends below it, which it does
        on the flat regions of a log acquisition."""
        m = len(self.domains)
        ones = torch.ones(m, dtype=torch.float64)
        bounds = torch.stack([torch.zeros(m, dtype=torch.float64), ones])
        constraint = [(torch.arange(m), ones, 1.0)]

        def simplex_batches(n: int, q: int, seed: int | None):
            return sample_simplex(m, n * q, qmc=True, seed=seed, dtype=torch.float64).view(n, q, m)

        starts = gen_batch_initial_conditions(
            acquisition, bounds, q=q, num_restarts=self.options.num_restarts, raw_samples=self.options.raw_samples,
            equality_constraints=constraint, options={"seed": call_seed}, generator=simplex_batches)
        ends, _ = optimize_acqf(acquisition, bounds=bounds, q=q, num_restarts=self.options.num_restarts,
                                equality_constraints=constraint, batch_initial_conditions=starts,
                                return_best_only=False)
        batches = torch.cat([ends, starts])
        with torch.no_grad():
            values = torch.cat([acquisition(batch.unsqueeze(0)) for batch in batches])
        best = batches[int(torch.argmax(values))]
        return torch.where(best < 1e-9, 0.0, best)

    def recommend(self, history: Sequence[Observation], over_simplex: bool = True) -> list[Recommendation]:
        """The posterior mean's maximiser among the tried mixtures (the pick that does not chase one lucky
        noisy score), then (``over_simplex``) over the whole simplex, each with the model's mean and sd of the
        score there. The model is the proposals' GP, ``evidence_model``'s (``recommendation = "evidence"``), or
        for ``"auto"`` the one of the two whose exact leave-one-out predictions give the scores the higher density."""
        history_arrays(history, self.domains)
        with self._seeded(history) as call_seed:
            evidence = self._evidence_model(history) if self.options.recommendation != "proposal-model" else None
            if self.options.recommendation == "evidence":
                model, train_x = evidence
            elif self.options.recommendation == "auto":  # the one that predicts left-out runs better
                candidates = [self._fitted_model(history, call_seed), evidence]
                model, train_x = max(candidates, key=lambda candidate: loo_log_density(candidate[0]))
            else:
                model, train_x = self._fitted_model(history, call_seed)
            points = torch.unique(train_x, dim=0)
            tried = len(points)
            if over_simplex:
                points = torch.cat([points, self._maximise_on_simplex(PosteriorMean(model), 1, call_seed)])
            with torch.no_grad():
                posterior = model.posterior(points)
                mean, sd = posterior.mean.squeeze(-1), posterior.variance.squeeze(-1).clamp_min(0).sqrt()
                pick = self._guarded_pick(history, evidence, points[:tried], mean[:tried])
        picks = [(pick, "tried")] + ([(tried, "simplex")] if over_simplex else [])
        return [Recommendation(mixture=Mixture.normalised(zip(self.domains, points[i].tolist())), among=among,
                               predicted=float(mean[i]), sd=float(sd[i])) for i, among in picks]

    def _guarded_pick(self, history, evidence, tried: torch.Tensor, mean: torch.Tensor) -> int:
        """The index of the tried mixture with the highest posterior mean, or of the uniform mixture where that
        was tried and the leader beats it with a probability below ``confidence_over_uniform``. The probability
        is the evidence GP's, whichever model picked: its noise is fitted with the surface's shape, where the
        proposals' GP can explain noise on a flat surface as a bumpy surface and be sure of a lucky lead.
        ``evidence``: that GP and its inputs where ``recommend`` fitted it already, else None."""
        pick = int(torch.argmax(mean))
        m = tried.shape[-1]
        uniform = torch.nonzero((tried - 1.0 / m).abs().amax(dim=-1) < 1e-9).flatten()
        if self.options.confidence_over_uniform == 0 or len(uniform) == 0 or int(uniform[0]) == pick:
            return pick
        judge, _ = evidence if evidence is not None else self._evidence_model(history)
        both = judge.posterior(tried[[pick, int(uniform[0])]])
        covariance = both.distribution.covariance_matrix
        lead_sd = (covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]).clamp_min(1e-24).sqrt()
        lead = both.mean[0, 0] - both.mean[1, 0]
        confidence = torch.distributions.Normal(0.0, 1.0).cdf(lead / lead_sd)
        return pick if confidence >= self.options.confidence_over_uniform else int(uniform[0])

    def diagnostics(self, history: Sequence[Observation]) -> dict:
        """Exact leave-one-out predictions at the fitted hyperparameters (Rasmussen & Williams eq. 5.12)."""
        with self._seeded(history):
            model, _ = self._model(history)
        mean, _ = leave_one_out(model)
        loo, _ = model.outcome_transform.untransform(mean.unsqueeze(-1))
        target = np.array([obs.scores[self.objective] for obs in history], dtype=float)
        predicted = loo.squeeze(-1).detach().numpy()
        residual = target - predicted
        total = float(np.sum((target - target.mean()) ** 2))
        noise = model.likelihood.noise.detach()
        return {
            "n": len(history),
            "loo_predictions": predicted.tolist(),
            "r2": 1.0 - float(np.sum(residual**2)) / total,
            "rmse": float(np.sqrt(np.mean(residual**2))),
            "model": f"SingleTaskGP, {model.kernel_name}"
                     + (", ridge quadratic prior mean" if model.has_quadratic_mean else ", constant prior mean")
                     + (" (kernel chosen by leave-one-out)" if self.options.kernel == "auto" else ""),
            "noise_sd": float(noise.mean().sqrt() * model.outcome_transform.stdvs.squeeze()),
            "loo_log_density": float(loo_log_density(model)),
        }


def evidence_model(train_x, train_y, variance=None, learn_noise: bool = True) -> SingleTaskGP:
    """A GP for the recommendation: a Bayesian Scheffe quadratic (a linear kernel on the centred features
    [w, 4 w_i w_j]) plus an RBF part plus noise, on the standardised scores, with the quadratic's share of the
    signal, the RBF lengthscale and the noise's share of the variance those of ``EVIDENCE_GRID`` that give
    the scores the highest marginal likelihood. On a rugged surface with few noisy runs the proposals' GP, a MAP
    fit from priors that expect little noise, often explains the noise as wiggles (its pick is then the luckiest
    run) or fits a flat kernel (its pick is then a near-flat quadratic's maximum); shares that sum to the
    scores' variance, chosen on a grid, do so less often (measured in docs/optimizers.md). ``variance``: the
    runs' observed noise, added to the learnt share (``learn_noise``) or the whole noise."""
    m = train_x.shape[-1]
    centre = ScheffeFeatures().transform(train_x).mean(dim=0)
    quadratic = LinearKernel(active_dims=list(range(len(centre))))
    smooth = ScaleKernel(RBFKernel(active_dims=list(range(m))))
    model = SingleTaskGP(train_x, train_y, likelihood=FixedNoiseGaussianLikelihood(noise=torch.ones(len(train_y))),
                         outcome_transform=Standardize(m=1), input_transform=ScheffeFeatures(centre=centre),
                         covar_module=quadratic + smooth)
    model.eval()  # in eval mode the inputs are stored transformed, and the targets standardised
    inputs, scores = model.train_inputs[0], model.train_targets
    observed = torch.zeros(len(scores), dtype=torch.float64) if variance is None else \
        variance / model.outcome_transform.stdvs.squeeze() ** 2
    noise_shares = EVIDENCE_GRID["noise_share"] if learn_noise else (0.0,)
    with torch.no_grad():
        quadratic.variance = 1.0
        quadratic_matrix = quadratic(inputs).to_dense()
        quadratic_scale = quadratic_matrix.diagonal().mean().clamp_min(1e-12)
        quadratic_matrix = quadratic_matrix / quadratic_scale  # unit mean variance, like the RBF part's
        settings, covariances = [], []
        for lengthscale in EVIDENCE_GRID["lengthscale"]:
            smooth.base_kernel.lengthscale = lengthscale
            smooth_matrix = smooth.base_kernel(inputs).to_dense()
            for share in EVIDENCE_GRID["quadratic_share"]:
                signal = share * quadratic_matrix + (1 - share) * smooth_matrix
                for noise in noise_shares:
                    settings.append((lengthscale, share, noise))
                    covariances.append((1 - noise) * signal + torch.diag(noise + observed))
        evidence = MultivariateNormal(torch.zeros_like(scores), torch.stack(covariances)).log_prob(scores)
        lengthscale, share, noise = settings[int(torch.argmax(evidence))]
        quadratic.variance = max((1 - noise) * share / float(quadratic_scale), 1e-9)
        smooth.outputscale = max((1 - noise) * (1 - share), 1e-9)
        smooth.base_kernel.lengthscale = lengthscale
        model.likelihood.noise = (noise + observed).clamp_min(1e-9)
    return model


class TriedKnowledgeGradient(AcquisitionFunction):
    """The expected rise of the recommendation's posterior mean from measuring the q-batch X: E[max over the
    tried mixtures and X of the updated posterior mean] minus the best posterior mean among the tried ones
    (a knowledge gradient over the set the recommendation is chosen from, Frazier et al. 2009). It values
    measuring a tried mixture again when that could change which one is recommended. Given the fitted
    hyperparameters the update is exact: measuring X moves the means at the points P by cov(P, X) L^-T z,
    with L L^T the covariance of the noisy scores at X (their noise the training runs' mean noise, as BoTorch's
    fantasies take it) and z standard normal (fixed Sobol draws)."""

    def __init__(self, model, tried: torch.Tensor, samples: int, seed: int, X_pending: torch.Tensor | None = None):
        super().__init__(model)
        self.tried, self.samples, self.seed = tried, samples, seed
        with torch.no_grad():
            self.current = model.posterior(tried).mean.max()
            self.noise = model.likelihood.noise.mean() * model.outcome_transform.stdvs.squeeze() ** 2
        self.draws: dict[int, torch.Tensor] = {}  # q -> the Sobol normal draws, the same on every call
        self.set_X_pending(X_pending)

    @concatenate_pending_points
    @t_batch_mode_transform()
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        batch, q = X.shape[:-2], X.shape[-2]
        points = torch.cat([self.tried.expand(*batch, -1, -1), X], dim=-2)
        posterior = self.model.posterior(points)
        mean, covariance = posterior.mean.squeeze(-1), posterior.distribution.covariance_matrix
        measured = covariance[..., -q:, -q:] + self.noise * torch.eye(q, dtype=X.dtype, device=X.device)
        cross = covariance[..., :, -q:]
        shift = torch.linalg.solve_triangular(psd_safe_cholesky(measured), cross.transpose(-1, -2), upper=False)
        if q not in self.draws:
            self.draws[q] = draw_sobol_normal_samples(q, self.samples, dtype=X.dtype, device=X.device, seed=self.seed)
        z = self.draws[q]
        updated = mean.unsqueeze(-2) + z @ shift  # batch x samples x points
        return updated.max(dim=-1).values.mean(dim=-1) - self.current


def leave_one_out(model):
    """Exact leave-one-out predictive means and variances of the standardised training targets, noise
    included, at the fitted hyperparameters (Rasmussen & Williams eqs. 5.10-5.12)."""
    inputs = model.train_inputs[0]
    with torch.no_grad():
        prior = model.likelihood(model.forward(inputs), inputs)
        precision = torch.linalg.inv(prior.covariance_matrix)
        residual = model.train_targets - prior.mean
        variance = 1.0 / precision.diagonal()
        return model.train_targets - variance * (precision @ residual), variance


def loo_log_density(model) -> torch.Tensor:
    """Sum of log N(y_i; leave-one-out mean, variance): how well the model predicts each run it has not seen."""
    mean, variance = leave_one_out(model)
    return torch.distributions.Normal(mean, variance.sqrt()).log_prob(model.train_targets).sum()


def dimension_scaled_kernel(m: int, matern: bool, shared: bool, active_dims: list[int] | None = None):
    """An RBF or Matern-5/2 kernel on m weights with BoTorch's dimension-scaled lengthscale prior (Hvarfner et al.
    2024): one lengthscale per domain, or (``shared``) one for all. 20-30 noisy runs cannot pin down a lengthscale
    per domain: fitted per domain, a few come out very short and explain the noise as wiggles along them."""
    per_domain = get_covar_module_with_dim_scaled_prior(m, use_rbf_kernel=not matern, active_dims=active_dims)
    if not shared:
        return per_domain
    return type(per_domain)(lengthscale_prior=per_domain.lengthscale_prior, active_dims=active_dims,
                            lengthscale_constraint=per_domain.raw_lengthscale_constraint)


def scheffe_matern_kernel(m: int, shared: bool):
    """A Bayesian Scheffe quadratic (a linear kernel on [w, 4 w_i w_j]: independent Gaussian coefficients on
    every term) plus a Matern-5/2 part on w for what a quadratic misses; marginal likelihood sets their
    shares. The products are scaled by 4 to span [0, 1] like the weights."""
    pairs = m * (m - 1) // 2
    quadratic = LinearKernel(active_dims=list(range(m + pairs)), variance_prior=GammaPrior(2.0, 1.0))
    matern = dimension_scaled_kernel(m, matern=True, shared=shared, active_dims=list(range(m)))
    return quadratic + ScaleKernel(matern, outputscale_prior=GammaPrior(2.0, 4.0))


def fidelity_bias_kernel(m: int):
    """Scores of partial runs as the final score plus a bias: on inputs [w, g] with g = 1 - fidelity, a Matern
    kernel on w for the final score, plus a second Matern kernel on w times the linear kernel g g' for the
    bias (its own function of the mixture, growing with the steps not trained, zero at the end of the run).
    Their fitted sizes say how much an early evaluation tells about the final score (``early_correlation``)."""
    weights = list(range(m))
    final = ScaleKernel(dimension_scaled_kernel(m, matern=True, shared=False, active_dims=weights))
    bias = dimension_scaled_kernel(m, matern=True, shared=False, active_dims=weights)
    return final + bias * LinearKernel(active_dims=[m], variance_prior=GammaPrior(2.0, 4.0))


class ScheffeFeatures(InputTransform, torch.nn.Module):
    """Maps w to [w, 4 w_i w_j for i < j]: the Scheffe quadratic's terms, the first m of them w itself; minus
    ``centre`` when given (a linear kernel on centred features leaves the scores' level to the mean)."""

    def __init__(self, centre: torch.Tensor | None = None):
        super().__init__()
        self.transform_on_train = True
        self.transform_on_eval = True
        self.transform_on_fantasize = True
        self.centre = centre

    def transform(self, X):
        rows, cols = scheffe_pairs(X.shape[-1])
        features = torch.cat([X, 4 * X[..., rows] * X[..., cols]], dim=-1)
        return features if self.centre is None else features - self.centre


def scheffe_pairs(m: int) -> tuple[list[int], list[int]]:
    """The (i, j), i < j, of the Scheffe quadratic's product terms, in the order its features list them."""
    rows, cols = torch.triu_indices(m, m, offset=1)
    return rows.tolist(), cols.tolist()


class ScheffeMean(Mean):
    """A fixed Scheffe quadratic c + sum b_i w_i + sum_{i<j} c_ij w_i w_j as a GP prior mean, moved into the
    standardised outcome's units by ``shift`` and ``scale`` (nothing in it is learnt by the marginal likelihood)."""

    def __init__(self, intercept: float, linear: list[float], products: list[float], shift: float, scale: float):
        super().__init__()
        self.intercept, self.scale = float(intercept - shift), float(scale)
        self.register_buffer("linear", torch.tensor(linear, dtype=torch.float64))
        self.register_buffer("products", torch.tensor(products, dtype=torch.float64))
        self.rows, self.cols = scheffe_pairs(len(linear))

    def forward(self, x):
        x = x[..., : len(self.linear)]  # the weights (an input transform may append features after them)
        value = self.intercept + x @ self.linear + (x[..., self.rows] * x[..., self.cols]) @ self.products
        return value / self.scale
