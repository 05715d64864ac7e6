"""Scores with their uncertainty: per benchmark, In-Score / Out-Score, and paired margins.

A benchmark's score is the mean of its per-example scores (0/1 for exact match, IoU in
[0, 1], or a mean over k samples). Its standard error is the closed form for a mean,
sqrt(mean((x - mean)^2) / n), which for 0/1 scores is sqrt(p (1 - p) / n).
In-Score and Out-Score average the benchmarks of their group weighted by number of
examples (paper.md section 1.4); their standard errors propagate assuming benchmarks
are independent: sqrt(sum((n_b / N)^2 se_b^2)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import attrs

GROUPS = ("in", "out")


@attrs.frozen
class BenchmarkScore:
    name: str
    group: str
    n: int
    score: float
    stderr: float


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float]:
    """Mean of per-example scores and its standard error (0 for fewer than two examples)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = math.fsum(values) / n
    variance = math.fsum((v - mean) ** 2 for v in values) / n
    return mean, math.sqrt(variance / n) if n > 1 else 0.0


def score_benchmark(name: str, group: str, per_example: Sequence[float]) -> BenchmarkScore:
    mean, stderr = mean_and_stderr(per_example)
    return BenchmarkScore(name=name, group=group, n=len(per_example), score=mean, stderr=stderr)


def aggregate(scores: Sequence[BenchmarkScore]) -> dict[str, float]:
    """``in_score``, ``in_score_stderr``, ``out_score``, ``out_score_stderr`` (NaN for an empty group)."""
    result: dict[str, float] = {}
    for group in GROUPS:
        members = [s for s in scores if s.group == group and s.n > 0]
        total = sum(s.n for s in members)
        if total == 0:
            result[f"{group}_score"] = math.nan
            result[f"{group}_score_stderr"] = math.nan
            continue
        result[f"{group}_score"] = math.fsum(s.n * s.score for s in members) / total
        result[f"{group}_score_stderr"] = math.sqrt(math.fsum((s.n / total) ** 2 * s.stderr**2 for s in members))
    return result


def paired_margin(
    candidate: Mapping[str, Sequence[float]],
    baseline: Mapping[str, Sequence[float]],
    groups: Mapping[str, str],
    target: str,
) -> tuple[float, float]:
    """Margin of ``candidate`` over ``baseline`` on the same examples, and its paired standard error.

    ``target`` is ``"in_score"``, ``"out_score"`` or a benchmark name. The per-example
    differences d_i carry only what changed between the two policies, so the standard
    error sqrt(var(d) / n) is much smaller than the unpaired one when most examples are
    easy or hard for both.
    """
    if target in ("in_score", "out_score"):
        names = [b for b, g in groups.items() if g == target.removesuffix("_score")]
    else:
        names = [target]
    names = [b for b in names if b in candidate and b in baseline]
    total = sum(len(candidate[b]) for b in names)
    if total == 0:
        return math.nan, math.nan
    margin, variance = 0.0, 0.0
    for name in names:
        a, b = candidate[name], baseline[name]
        if len(a) != len(b):
            raise ValueError(f"benchmark {name!r}: paired scores need the same examples ({len(a)} vs {len(b)})")
        mean, stderr = mean_and_stderr([x - y for x, y in zip(a, b)])
        share = len(a) / total
        margin += share * mean
        variance += share**2 * stderr**2
    return margin, math.sqrt(variance)
