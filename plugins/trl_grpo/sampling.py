"""The paper's two-stage mixture draw, realised up front as the training order.

At every draw a domain is picked with probability w_i, then one example of it that has
not been seen yet (paper.md section 3). When the picked domain has no unseen example
left, ``on_exhausted = "stop"`` ends the stream (the paper's rule) and ``"repeat"``
starts a fresh shuffled pass over that domain. The whole sequence is a function of the
seed, so a trial can be replayed and its realised domain counts reported exactly. The
trainer hands this sequence to TRL as the dataset order with shuffling off, and TRL's
own sampler repeats each prompt ``num_generations`` times, so GRPO groups stay intact.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping

import attrs


@attrs.frozen
class Draw:
    """One prompt of the stream: the domain it came from and the row's index in that domain."""

    domain: str
    index: int


def draw_sequence(
    weights: Mapping[str, float],
    sizes: Mapping[str, int],
    count: int,
    seed: int,
    on_exhausted: str = "stop",
) -> list[Draw]:
    """Up to ``count`` draws; fewer when ``on_exhausted == "stop"`` and a picked domain runs out."""
    if on_exhausted not in ("stop", "repeat"):
        raise ValueError(f"on_exhausted: expected 'stop' or 'repeat', got {on_exhausted!r}")
    domains = [name for name in weights if weights[name] > 0]
    missing = [name for name in domains if sizes.get(name, 0) == 0]
    if missing:
        raise ValueError(f"domains with weight > 0 but no rows: {', '.join(missing)}")
    rng = random.Random(seed)
    probabilities = [weights[name] for name in domains]
    unseen = {name: _shuffled(sizes[name], rng) for name in domains}
    sequence: list[Draw] = []
    while len(sequence) < count:
        domain = rng.choices(domains, weights=probabilities)[0]
        if not unseen[domain]:
            if on_exhausted == "stop":
                break
            unseen[domain] = _shuffled(sizes[domain], rng)
        sequence.append(Draw(domain, unseen[domain].pop()))
    return sequence


def domain_counts(sequence: list[Draw]) -> dict[str, int]:
    return dict(Counter(draw.domain for draw in sequence))


def _shuffled(size: int, rng: random.Random) -> list[int]:
    order = list(range(size))
    rng.shuffle(order)
    return order
