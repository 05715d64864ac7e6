"""Quadratic surrogates of score versus mixture: the paper's Algorithm 4 as written, and a well-posed version.

Both expose ``diagnostics(history)``: leave-one-out predictions aligned with the history, R^2 and RMSE.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import attrs
import numpy as np

from modomodo import HistoryError, Mixture, Observation, Recommendation, between, history_arrays

from .history import ridge_grid, rng_for, to_mixture


def fit_summary(actual: np.ndarray, predicted: np.ndarray) -> dict:
    """R^2 and RMSE of leave-one-out predictions, with the predictions aligned to the history rows."""
    residual = actual - predicted
    total = float(np.sum((actual - actual.mean()) ** 2))
    return {
        "n": int(len(actual)),
        "loo_predictions": [float(p) for p in predicted],
        "r2": 1.0 - float(np.sum(residual**2)) / total if total > 0 else float("nan"),
        "rmse": float(np.sqrt(np.mean(residual**2))),
    }


def _r2(actual: np.ndarray, predicted: np.ndarray) -> float:
    total = np.sum((actual - actual.mean()) ** 2)
    return float(1.0 - np.sum((actual - predicted) ** 2) / total) if total > 0 else float("-inf")


class QuadSurface:
    """Algorithm 4 as written: OLS on [1, w, w (x) w] over random 80/20 splits (best held-out R^2 kept),
    candidates from one Gaussian fitted to the observed mixtures, kept if on the simplex, top-n by prediction.

    The design matrix is rank-deficient on the simplex; like the paper's presumed pseudo-inverse, lstsq
    returns the minimum-norm solution.
    """

    name = "quad-surface"
    @attrs.frozen(kw_only=True)
    class Options:
        splits: int = attrs.field(default=5, validator=between(1, 1_000))
        test_fraction: float = attrs.field(default=0.2, validator=between(0.01, 0.99))
        samples: int = attrs.field(default=10_000, validator=between(1, 10_000_000))
    minimum_rows = 4

    def __init__(self, domains, objective, seed, splits, test_fraction, samples):
        self.domains, self.objective, self.seed = domains, objective, seed
        self.splits, self.test_fraction, self.samples = int(splits), float(test_fraction), int(samples)

    @staticmethod
    def _features(weights: np.ndarray) -> np.ndarray:
        pairs = (weights[:, :, None] * weights[:, None, :]).reshape(len(weights), weights.shape[1] ** 2)
        return np.hstack([np.ones((len(weights), 1)), weights, pairs])

    def _data(self, history):
        if len(history) < self.minimum_rows:
            raise HistoryError(f"{self.name}: needs at least {self.minimum_rows} scored runs to fit and "
                               f"validate, the history has {len(history)}")
        weights, scores = history_arrays(history, self.domains, [self.objective])
        return weights, scores[self.objective]

    def _fit(self, weights, target, rng) -> tuple[np.ndarray, float, float]:
        features = self._features(weights)
        test_size = max(2, round(self.test_fraction * len(target)))
        best = None
        for _ in range(self.splits):
            order = rng.permutation(len(target))
            test, train = order[:test_size], order[test_size:]
            coefficients = np.linalg.lstsq(features[train], target[train], rcond=None)[0]
            test_r2 = _r2(target[test], features[test] @ coefficients)
            if best is None or test_r2 > best[1]:
                best = (coefficients, test_r2, _r2(target[train], features[train] @ coefficients))
        return best

    def propose(self, history: Sequence[Observation], n: int) -> list[Mixture]:
        weights, target = self._data(history)
        rng = rng_for(self.seed, history)
        coefficients, _, _ = self._fit(weights, target, rng)
        draws = rng.multivariate_normal(weights.mean(axis=0), np.cov(weights.T), size=self.samples,
                                        method="eigh", check_valid="ignore")
        kept = draws[(draws >= 0).all(axis=1) & (draws.sum(axis=1) > 0)]
        kept = kept / kept.sum(axis=1, keepdims=True)
        ranked = kept[np.argsort(-(self._features(kept) @ coefficients), kind="stable")]
        chosen = np.unique(np.round(ranked, 12), axis=0, return_index=True)[1]
        top = ranked[np.sort(chosen)][:n]
        if len(top) < n:
            raise HistoryError(f"{self.name}: only {len(top)} of {self.samples} Gaussian samples fell on the simplex "
                               f"and {n} proposals were asked for; raise the 'samples' option (the Gaussian "
                               "fitted to spread-out mixtures in many domains rarely lands on the simplex)")
        return [to_mixture(self.domains, candidate) for candidate in top]

    def diagnostics(self, history: Sequence[Observation]) -> dict:
        weights, target = self._data(history)
        coefficients, test_r2, train_r2 = self._fit(weights, target, rng_for(self.seed, history))
        features = self._features(weights)
        loo = np.empty_like(target)
        for row in range(len(target)):
            others = np.arange(len(target)) != row
            loo[row] = features[row] @ np.linalg.lstsq(features[others], target[others], rcond=None)[0]
        return {**fit_summary(target, loo), "model": "OLS on [1, w, w(x)w]",
                "selected_split_train_r2": train_r2, "selected_split_test_r2": test_r2}


class QuadraticFit(NamedTuple):
    """A ridge fit: the data, the chosen penalty, coefficients (intercept first), leave-one-out predictions,
    the map from scores to coefficients (``coefficients = solve @ target``) and the mean leave-one-out error."""

    weights: np.ndarray
    target: np.ndarray
    ridge: float
    coefficients: np.ndarray
    loo: np.ndarray
    solve: np.ndarray
    loo_error: float


class Quadratic:
    """Scheffe quadratic sum b_i w_i + sum_{i<j} c_ij w_i w_j (no redundant columns on the simplex).

    Fitted with an unpenalised intercept and a ridge penalty on every other coefficient, chosen by exact
    leave-one-out: the intercept is redundant on the simplex, so the penalty shrinks the surface toward
    the mean score (a strong penalty predicts the mean, a weak one is the full quadratic) instead of
    toward 0. Proposals maximise the fitted surface on the
    simplex globally (dense candidate cloud, then multi-start SLSQP); each further proposal in a batch is
    the best point at least ``spacing`` (Euclidean) from those already chosen. The surface's maximiser is
    proposed even if it was observed before: with noisy scores that is the model's best action.
    """

    name = "quadratic"
    @attrs.frozen(kw_only=True)
    class Options:
        spacing: float = attrs.field(default=0.1, validator=between(0, 2))
        ridge_grid: list[float] = attrs.field(factory=lambda: [1e-6, 1e2, 33], validator=ridge_grid)
        cloud: int = attrs.field(default=4096, validator=between(1, 10_000_000))
        starts: int = attrs.field(default=16, validator=between(1, 10_000))

    def __init__(self, domains, objective, seed, spacing, ridge_grid, cloud, starts):
        self.domains, self.objective, self.seed = domains, objective, seed
        self.spacing, self.cloud, self.starts = float(spacing), int(cloud), int(starts)
        low, high, count = ridge_grid
        self.ridges = np.logspace(np.log10(low), np.log10(high), int(count))
        self.pairs = list(itertools.combinations(range(len(domains)), 2))

    def _features(self, weights: np.ndarray) -> np.ndarray:
        products = [weights[:, i] * weights[:, j] for i, j in self.pairs]
        return np.column_stack([weights, *products]) if products else weights

    def _fit(self, history):
        if len(history) < 3:
            raise HistoryError(f"{self.name}: needs at least 3 scored runs, the history has {len(history)}")
        weights, scores = history_arrays(history, self.domains, [self.objective])
        target = scores[self.objective]
        features = np.hstack([np.ones((len(target), 1)), self._features(weights)])
        penalty = np.diag([0.0] + [1.0] * (features.shape[1] - 1))
        best = None
        for ridge in self.ridges:
            solve = np.linalg.solve(features.T @ features + ridge * penalty, features.T)
            hat = features @ solve
            leverage_gap = 1.0 - np.diag(hat)
            if np.any(leverage_gap < 1e-9):
                continue
            loo = target - (target - hat @ target) / leverage_gap
            error = float(np.mean((target - loo) ** 2))
            if best is None or error < best[0]:
                best = (error, ridge, solve @ target, loo, solve)
        if best is None:
            raise HistoryError(f"{self.name}: the history's mixtures do not pin down a quadratic "
                               "(every run is needed to fit itself); add runs at other mixtures")
        error, ridge, coefficients, loo, solve = best
        return QuadraticFit(weights, target, ridge, coefficients, loo, solve, error)

    def recommend(self, history: Sequence[Observation], over_simplex: bool = True) -> list[Recommendation]:
        """The fitted surface's best tried mixture, then (``over_simplex``) its maximiser on the simplex. The sd
        is that of the fitted value, a linear smoother of the scores, with the leave-one-out error as the
        noise variance."""
        fit = self._fit(history)
        coefficients = fit.coefficients
        points = np.unique(fit.weights, axis=0)
        tried = len(points)
        if over_simplex:
            points = np.vstack([points, self.propose(history, 1)[0].vector(self.domains)])
        features = np.hstack([np.ones((len(points), 1)), self._features(points)])
        mean = features @ coefficients
        sd = np.sqrt(fit.loo_error * np.sum((features @ fit.solve) ** 2, axis=1))
        pick = int(np.argmax(mean[:tried]))
        picks = [(pick, "tried")] + ([(tried, "simplex")] if over_simplex else [])
        return [Recommendation(to_mixture(self.domains, points[i]), among, float(mean[i]), float(sd[i]))
                for i, among in picks]

    def _surface(self, coefficients):
        """The fitted quadratic as value-and-gradient; the intercept is dropped (it adds a constant)."""
        m = len(self.domains)
        linear = coefficients[1 : m + 1]
        interaction = np.zeros((m, m))
        for (i, j), c in zip(self.pairs, coefficients[m + 1 :]):
            interaction[i, j] = interaction[j, i] = c

        def value_and_gradient(w):
            return float(linear @ w + 0.5 * w @ interaction @ w), linear + interaction @ w

        return value_and_gradient

    def propose(self, history: Sequence[Observation], n: int) -> list[Mixture]:
        from scipy.optimize import minimize

        fit = self._fit(history)
        weights, coefficients = fit.weights, fit.coefficients
        surface = self._surface(coefficients)
        m = len(self.domains)
        rng = rng_for(self.seed, history)
        cloud = np.vstack([np.eye(m), np.full((1, m), 1.0 / m), weights, rng.dirichlet(np.ones(m), self.cloud)])
        cloud_values = self._features(cloud) @ coefficients[1:]
        chosen: list[np.ndarray] = []
        for _ in range(n):
            far = [np.sum((cloud - p) ** 2, axis=1) >= self.spacing**2 for p in chosen]
            allowed = np.all(far, axis=0) if far else np.ones(len(cloud), bool)
            if not allowed.any():
                raise HistoryError(f"{self.name}: cannot place {n} proposals {self.spacing} apart on the simplex; "
                                   "lower the 'spacing' option")
            starts = cloud[allowed][np.argsort(-cloud_values[allowed])[: self.starts]]
            constraints = [{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(m)}]
            constraints += [{"type": "ineq", "fun": lambda w, p=p: np.sum((w - p) ** 2) - self.spacing**2,
                             "jac": lambda w, p=p: 2 * (w - p)} for p in chosen]
            best_value, best_point = -np.inf, starts[0]
            for start in starts:
                result = minimize(lambda w: tuple(-v for v in surface(w)), start, jac=True, method="SLSQP",
                                  bounds=[(0.0, 1.0)] * m, constraints=constraints)
                point = np.clip(result.x, 0.0, None)
                point /= point.sum()
                feasible = all(np.sum((point - p) ** 2) >= self.spacing**2 - 1e-6 for p in chosen)
                value = surface(point)[0]
                if feasible and value > best_value:
                    best_value, best_point = value, point
            chosen.append(best_point)
        return [to_mixture(self.domains, point) for point in chosen]

    def diagnostics(self, history: Sequence[Observation]) -> dict:
        fit = self._fit(history)
        target, ridge, coefficients, loo = fit.target, fit.ridge, fit.coefficients, fit.loo
        names = ["intercept", *self.domains] + [f"{self.domains[i]}*{self.domains[j]}" for i, j in self.pairs]
        return {**fit_summary(target, loo), "model": "Scheffe quadratic, ridge toward the mean",
                "ridge": float(ridge), "coefficients": dict(zip(names, map(float, coefficients)))}
