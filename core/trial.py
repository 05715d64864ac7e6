"""One trial: train a policy on a mixture, answer every benchmark, score it in the core."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .config import Config
from .errors import TrialError
from .ledger import write_atomic
from .loading import benchmark_metric, domain_reward, load_rows
from .mixture import Mixture
from .plugins import get
from .scoring import BenchmarkScore, aggregate, score_benchmark
from .trainers import DomainData, GenerateRequest, ProgressCallback, TrainOutcome, TrainRequest


SHOWN_ANSWERS = 5  # answers kept per benchmark in each trial's answers.json


@attrs.frozen
class TrialJob:
    """A trial the study wants run: ``role`` is "search", "confirm" or "base" (the base's evaluation)."""

    id: str
    index: int
    mixture: Mixture
    seed: int
    role: str
    workdir: Path
    fidelity: float = 1.0  # the fraction of train.steps to train up to (below 1: a partial trial)


@attrs.frozen
class TrialResult:
    """What one trial measured. ``per_example`` (benchmark -> scores) is kept for paired comparisons."""

    mixture: Mixture
    seed: int
    benchmarks: Sequence[BenchmarkScore]
    summary: Mapping[str, float]
    train_metrics: Mapping[str, Any]
    wall_time: float
    per_example: Mapping[str, Sequence[float]] = attrs.field(factory=dict, repr=False)
    evaluations: Sequence[Mapping[str, Any]] = ()  # {fraction, step, scores} at each of eval.at reached so far

    def scores(self) -> dict[str, float]:
        """Flat score columns: in_score, out_score, their stderr, and one column per benchmark."""
        flat = dict(self.summary)
        for bench in self.benchmarks:
            flat[bench.name] = bench.score
            flat[f"{bench.name}_stderr"] = bench.stderr
        return flat

    def to_json(self) -> str:
        """Everything but the per-example scores, which ``score_policy`` keeps in ``per_example.json``."""
        return json.dumps({
            "mixture": dict(self.mixture), "seed": self.seed, "summary": dict(self.summary),
            "benchmarks": [attrs.asdict(b) for b in self.benchmarks],
            "train_metrics": dict(self.train_metrics), "wall_time": self.wall_time,
            "evaluations": list(self.evaluations),
        })

    @classmethod
    def from_json(cls, text: str, workdir: Path) -> TrialResult:
        data = json.loads(text)
        per_example = workdir / "per_example.json"
        return cls(
            mixture=Mixture(data["mixture"]), seed=data["seed"], summary=data["summary"],
            benchmarks=[BenchmarkScore(**b) for b in data["benchmarks"]], train_metrics=data["train_metrics"],
            wall_time=data["wall_time"], per_example=json.loads(per_example.read_text()) if per_example.exists() else {},
            evaluations=data.get("evaluations", ()),
        )


def generate_request(config: Config, seed: int) -> GenerateRequest:
    ev = config.eval
    return GenerateRequest(
        mode=ev.mode,
        samples=1 if ev.mode == "greedy" else ev.samples,
        temperature=ev.temperature,
        max_new_tokens=ev.max_new_tokens,
        batch_size=ev.batch_size,
        seed=seed,
        engine=ev.engine,
    )


def evaluate(config: Config, policy: Any, seed: int, progress: ProgressCallback | None = None,
             answers: dict[str, list[dict[str, Any]]] | None = None):
    """Answer every benchmark with ``policy`` and score it; returns (scores, per-example scores).

    Benchmarks are loaded with the study seed, not the trial seed, so every trial is
    scored on the same examples and trials can be compared pair-wise. ``answers``, when given, receives
    the first ``SHOWN_ANSWERS`` examples of each benchmark: question, reference, what the model answered
    and its score, so that a user can see what a score means.
    """
    trainer = get("trainers", config.model.trainer)
    request = generate_request(config, seed)
    scores, per_example = [], {}
    for index, (name, entry) in enumerate(config.benchmarks.items()):
        rows = load_rows(name, entry, seed=config.study.seed, limit=config.eval.limit)
        metric = benchmark_metric(entry)
        completions = trainer.generate(policy, rows, request)
        values = [
            math.fsum(metric(c, row) for c in given) / max(len(given), 1)
            for given, row in zip(completions, rows)
        ]
        per_example[name] = values
        if answers is not None:
            answers[name] = [{"problem": row["problem"], "solution": row["solution"], "answers": list(given),
                              "score": value} for row, given, value in zip(rows, completions, values)][:SHOWN_ANSWERS]
        scores.append(score_benchmark(name, entry.group, values))
        if progress is not None:
            progress("evaluate", index + 1, len(config.benchmarks))
    return scores, per_example


def run_job(config: Config, job: TrialJob, progress: ProgressCallback | None = None) -> TrialResult:
    """A search or confirmation trial, or the base's evaluation (``role = "base"``)."""
    if job.role == "base":
        return evaluate_base(config, job.workdir, progress)
    return run_trial(config, job.mixture, job.seed, job.workdir, progress, job.fidelity)


def evaluate_base(config: Config, workdir: Path, progress: ProgressCallback | None = None) -> TrialResult:
    """The base policy (no RL) scored like a trial, with the study seed."""
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    policy = get("trainers", config.model.trainer).base_policy(config.model, workdir)
    return score_policy(config, policy, Mixture.uniform(config.domain_names), config.study.seed, workdir, started,
                        progress=progress)


EVALUATIONS = "evaluations.json"  # in a trial's folder: its result at each point of eval.at reached so far


def evaluation_points(config: Config, fidelity: float) -> list[float]:
    """Where a trial trained up to ``fidelity`` is evaluated: the points of ``eval.at`` before it, and there."""
    return [point for point in config.eval.at if point < fidelity] + [fidelity]


def run_trial(
    config: Config,
    mixture: Mixture,
    seed: int,
    workdir: Path,
    progress: ProgressCallback | None = None,
    fidelity: float = 1.0,
) -> TrialResult:
    """Train on ``mixture`` with ``seed`` up to ``fidelity`` of the run, scoring the policy at each point of
    ``eval.at`` on the way (see ``score_policy``).

    Each evaluation is kept in the trial's folder as it is made, with the trainer's resumable state, so a
    trial continued to a higher fidelity, or run again after a crash, starts from its last evaluation
    and ends where a run straight through would have.
    """
    started = time.monotonic()
    done = earlier_evaluations(workdir, mixture, seed)
    spent_before = done[max(done)].wall_time if done else 0.0  # a trial's time counts all its parts
    for point in evaluation_points(config, fidelity):
        if point in done:
            continue
        outcome = train_policy(config, mixture, seed, workdir, progress, until=point)
        scored = score_policy(config, outcome.policy, mixture, seed, workdir, started, outcome.metrics, progress)
        done[point] = scored
        evaluations = [{"fraction": f, "step": r.train_metrics.get("steps"), "scores": r.scores()}
                       for f, r in sorted(done.items())]
        done[point] = attrs.evolve(scored, wall_time=spent_before + time.monotonic() - started, evaluations=evaluations)
        write_atomic(workdir / EVALUATIONS, json.dumps({"mixture": dict(mixture), "seed": seed, "results": {
            str(f): json.loads(r.to_json()) for f, r in done.items()}}))
    return done[fidelity]


def train_other_rank(config: Config, job: TrialJob) -> None:
    """What a process of a multi-process trial other than rank 0 does: the same training runs, no scoring."""
    done = earlier_evaluations(job.workdir, job.mixture, job.seed)
    for point in evaluation_points(config, job.fidelity):
        if point not in done:
            train_policy(config, job.mixture, job.seed, job.workdir, until=point)


def earlier_evaluations(workdir: Path, mixture: Mixture, seed: int) -> dict[float, TrialResult]:
    """The results a trial's folder holds from an earlier, partial run of the same mixture and seed."""
    try:
        kept = json.loads((workdir / EVALUATIONS).read_text())
    except (OSError, ValueError):
        return {}
    if kept.get("mixture") != dict(mixture) or kept.get("seed") != seed:
        return {}
    return {float(point): TrialResult.from_json(json.dumps(data), workdir) for point, data in kept["results"].items()}


def train_policy(
    config: Config, mixture: Mixture, seed: int, workdir: Path, progress: ProgressCallback | None = None,
    until: float = 1.0,
) -> TrainOutcome:
    """The training half of a trial: every process of a multi-process trial runs it, rank 0 then scores."""
    workdir.mkdir(parents=True, exist_ok=True)
    trainer = get("trainers", config.model.trainer)
    domains = {
        name: DomainData(rows=load_rows(name, entry, seed=seed), reward=domain_reward(entry))
        for name, entry in config.domains.items()
        if mixture.get(name, 0.0) > 0
    }
    outcome = trainer.train(
        TrainRequest(
            mixture=mixture,
            seed=seed,
            domains=domains,
            model=config.model,
            train=config.train,
            workdir=workdir,
            progress=progress,
            until=until,
        )
    )
    loss = outcome.metrics.get("loss")
    if isinstance(loss, float) and not math.isfinite(loss):
        raise TrialError(f"training diverged: loss is {loss}")
    return outcome


def score_policy(
    config: Config,
    policy: Any,
    mixture: Mixture,
    seed: int,
    workdir: Path,
    started: float,
    train_metrics: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> TrialResult:
    """Evaluate ``policy`` into a trial's result and keep its per-example scores in ``workdir``."""
    answers: dict[str, list[dict[str, Any]]] = {}
    scores, per_example = evaluate(config, policy, seed, progress, answers)
    (workdir / "per_example.json").write_text(json.dumps(per_example))
    (workdir / "answers.json").write_text(json.dumps(answers, indent=1, ensure_ascii=False))
    return TrialResult(
        mixture=mixture,
        seed=seed,
        benchmarks=scores,
        summary=aggregate(scores),
        train_metrics=dict(train_metrics or {}),
        wall_time=time.monotonic() - started,
        per_example=per_example,
    )
