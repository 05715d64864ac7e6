"""Per-domain reward routing for TRL: each completion is scored by its own domain's reward.

TRL calls a reward function with the batch's dataset columns as keyword lists. The
trainer's dataset carries one column, ``row_id``, that points back to the full row, so
domains with different extra columns never have to share a schema. Per-domain mean
reward, task reward (the verifiers' parts without the format gate, unweighted) and format rate go to
TRL's logs through ``log_metric``: a domain whose task reward stays 0 teaches GRPO nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from modomodo import CompositeReward


def completion_text(completion: Any) -> str:
    """TRL passes conversational completions as message lists; verifiers want the text."""
    if isinstance(completion, str):
        return completion
    return "".join(message["content"] for message in completion if isinstance(message.get("content"), str))


class DomainRouter:
    """A TRL reward function that routes every completion to its domain's CompositeReward."""

    __name__ = "mixture_reward"

    def __init__(self, rows: Sequence[Mapping[str, Any]], rewards: Mapping[str, CompositeReward]):
        self.rows = rows
        self.rewards = rewards

    def __call__(self, completions, row_id, log_metric=None, **_) -> list[float]:
        totals: list[float] = []
        by_domain: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
        for completion, index in zip(completions, row_id):
            row = self.rows[index]
            reward = self.rewards[row["domain"]]
            breakdown = reward(completion_text(completion), row)
            totals.append(breakdown.total)
            gate = reward.gate.name if reward.gate is not None else None
            task = sum(value for name, value in breakdown.parts.items() if name != gate)
            by_domain[row["domain"]].append((breakdown.total, task, breakdown.format_ok))
        if log_metric is not None:
            for domain, results in by_domain.items():
                log_metric(f"domain/{domain}/reward", sum(r for r, _, _ in results) / len(results))
                log_metric(f"domain/{domain}/task", sum(t for _, t, _ in results) / len(results))
                log_metric(f"domain/{domain}/format", sum(ok for _, _, ok in results) / len(results))
        return totals
