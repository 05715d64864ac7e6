"""Mixture optimizers: ask/tell strategies that propose the next mixtures to try."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from .mixture import Mixture


@attrs.frozen
class Observation:
    """One finished trial as an optimizer sees it: the mixture and its scores by column name.

    A multi-fidelity optimizer also sees each trial's evaluations before the end of its run: ``fidelity`` is
    the fraction of ``train.steps`` trained when it was scored, ``trial`` the trial's id (to continue it).
    """

    mixture: Mixture
    scores: Mapping[str, float]
    fidelity: float = 1.0
    trial: str | None = None


@attrs.frozen
class Run:
    """What a multi-fidelity optimizer asks for: train ``mixture`` up to ``fidelity`` (one of ``eval.at``), as a
    new trial, or by continuing the partial trial ``trial`` from where it stopped."""

    mixture: Mixture
    fidelity: float = 1.0
    trial: str | None = None


@attrs.frozen
class Recommendation:
    """The mixture a strategy would bet on now, and why.

    ``among`` is ``"tried"`` (the mixture in the history with the highest model mean), ``"simplex"`` (the
    model mean's maximiser over every mixture) or ``"observed"`` (the best observed mean score, for a strategy
    without a model). ``predicted`` and ``sd`` are the model's mean and standard deviation of the score there;
    for ``"observed"``, the observed mean and its standard error over replicates (None for one run).
    """

    mixture: Mixture
    among: str
    predicted: float | None = None
    sd: float | None = None


class MixtureOptimizer(Protocol):
    def propose(self, history: Sequence[Observation], n: int) -> list[Mixture]:
        """Return ``n`` mixtures over the optimizer's domains; raise HistoryError if history is unusable."""


class MultiFidelityOptimizer(MixtureOptimizer, Protocol):
    """A strategy that spends training steps, not whole trials: it sees every evaluation of ``eval.at`` (partial
    trials included) and decides which mixtures to start, how far, and which partial trials to continue."""

    def propose_runs(self, history: Sequence[Observation], n: int, fidelities: Sequence[float]) -> list[Run]:
        """``n`` runs; ``fidelities`` are the points of ``eval.at`` a run may stop at."""


class ModelBasedOptimizer(MixtureOptimizer, Protocol):
    """Optional members of a strategy with a surrogate model."""

    def recommend(self, history: Sequence[Observation], over_simplex: bool = True) -> list[Recommendation]:
        """The model's pick among the tried mixtures, then (``over_simplex``) over the simplex; HistoryError if
        it cannot fit."""

    def diagnostics(self, history: Sequence[Observation]) -> dict[str, Any]:
        """Leave-one-out predictions (``loo_predictions``), ``r2``, ``rmse``, ``n`` and ``model``."""


def configured_optimizer(config: Any) -> Any:
    """The optimizer a study config names, built with its domains, objective, seed and options."""
    from .plugins import get

    return get("optimizers", config.optimizer.name)(config.domain_names, objective=config.study.objective,
                                                    seed=config.study.seed, **config.optimizer.options)


def checked_proposals(name: str, proposals: Any, domains: Sequence[str]) -> list[Mixture]:
    """An optimizer's proposals as mixtures over exactly ``domains``, in their order; a plugin bug (another
    set of domains, not a mapping, weights off the simplex) is a PluginError naming the optimizer's plugin."""
    from .errors import PluginError
    from .mixture import MixtureError
    from .plugins import plugin_of

    try:
        who = f"optimizer {name!r} (plugin {plugin_of('optimizers', name)!r})"
    except PluginError:  # not registered: a factory under test
        who = f"optimizer {name!r}"
    checked = []
    for proposal in proposals:
        if not isinstance(proposal, Mapping) or set(proposal) != set(domains):
            got = ", ".join(sorted(map(str, proposal))) if isinstance(proposal, Mapping) else type(proposal).__name__
            raise PluginError(f"{who} proposed a mixture over {got or 'nothing'}; expected one over exactly "
                              f"{', '.join(domains)}")
        try:
            checked.append(Mixture.normalised([(d, proposal[d]) for d in domains]))
        except MixtureError as error:
            raise PluginError(f"{who} proposed an invalid mixture: {error}") from None
    return checked


def checked_runs(name: str, runs: Any, domains: Sequence[str], fidelities: Sequence[float],
                 partial: Sequence[Mapping[str, Any]]) -> list[Run]:
    """A multi-fidelity optimizer's runs, checked: new mixtures over exactly ``domains`` (as ``checked_proposals``),
    fidelities from ``eval.at``, continuations of partial trials (``partial``: their ledger records) to a point
    further than they got. A continuation takes its trial's mixture."""
    from .errors import PluginError
    from .ledger import fidelity

    by_id = {record["id"]: record for record in partial}
    checked = []
    for run in runs:
        if not isinstance(run, Run) or run.fidelity not in fidelities:
            raise PluginError(f"optimizer {name!r} asked for {run!r}; expected a Run with a fidelity in eval.at "
                              f"({', '.join(f'{f:g}' for f in fidelities)})")
        if run.trial is None:
            checked.append(Run(checked_proposals(name, [run.mixture], domains)[0], run.fidelity))
            continue
        if any(other.trial == run.trial for other in checked):
            raise PluginError(f"optimizer {name!r} asked to continue trial {run.trial!r} twice in one round")
        earlier = by_id.get(run.trial)
        if earlier is None or fidelity(earlier) >= run.fidelity:
            got = "no successful search trial" if earlier is None else f"trained to {fidelity(earlier):g}"
            raise PluginError(f"optimizer {name!r} asked to continue trial {run.trial!r} to {run.fidelity:g}, but it "
                              f"is {got}; a continuation goes further than the partial trial got")
        checked.append(Run(Mixture(earlier["mixture"]), run.fidelity, run.trial))
    return checked


def best_observed(history: Sequence[Observation], objective: str) -> Recommendation:
    """The tried mixture with the best mean observed ``objective`` (replicates averaged; ties: first tried)."""
    runs: dict[Mixture, list[float]] = {}
    for observation in history:
        score = observation.scores.get(objective)
        if score is not None and score == score:
            runs.setdefault(observation.mixture, []).append(float(score))
    if not runs:
        raise ValueError(f"no run in the history has a {objective!r} score")
    mixture, scores = max(runs.items(), key=lambda item: sum(item[1]) / len(item[1]))
    mean = sum(scores) / len(scores)
    stderr = (sum((s - mean) ** 2 for s in scores) / (len(scores) - 1) / len(scores)) ** 0.5 if len(scores) > 1 else None
    return Recommendation(mixture=mixture, among="observed", predicted=mean, sd=stderr)


def recommend(optimizer: Any, history: Sequence[Observation], objective: str) -> list[Recommendation]:
    """What ``optimizer`` recommends: its model's picks when it has a model that fits the history, else
    the best observed mixture."""
    from .errors import HistoryError

    model_based = getattr(optimizer, "recommend", None)
    if model_based is not None:
        try:
            return list(model_based(history))
        except HistoryError:
            pass
    return [best_observed(history, objective)]


@attrs.frozen
class OptimizerFactory:
    """A named strategy. ``create(domains, objective, seed, **options)`` builds a MixtureOptimizer."""

    name: str
    create: Callable[..., MixtureOptimizer]
    description: str = ""

    def __call__(self, domains: Sequence[str], objective: str = "out_score", seed: int = 0, **options: Any):
        return self.create(domains=list(domains), objective=objective, seed=seed, **options)
