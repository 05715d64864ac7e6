"""Test helpers for plugin authors: a pytest plugin (loaded automatically where modomodo is installed) with
the ``temporary_plugin`` fixture, and contract checks that a dataset source, a verifier or an optimizer
keeps what modomodo relies on. A plugin's tests become a line each:

    from modomodo import get_component
    from modomodo.testing import check_dataset_source, check_optimizer, check_verifier

    def test_source():
        check_dataset_source(get_component("datasets", "odd-one-out"))

Each check raises ``AssertionError`` with a message saying what broke, and returns what it loaded or
proposed for further assertions of your own.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from .answers import answer_span, completion
from .datasets import DatasetSource, LoadRequest, Row
from .errors import HistoryError
from .mixture import Mixture
from .optimizers import Observation, OptimizerFactory, checked_proposals
from .plugins import temporary_plugin as register_temporarily
from .verifiers import Verifier

JUNK = ["", "<answer>", "</answer><answer>", "<think>" * 1000, "x" * 100_000, "\x00\ud800", "<answer>nan</answer>"]


@pytest.fixture
def temporary_plugin() -> Iterator[Any]:
    """``temporary_plugin(obj, name="x")`` registers ``obj`` (a module, class or object with ``@hookimpl``
    functions) for this test; everything registered through it is unregistered when the test ends."""
    with contextlib.ExitStack() as stack:

        def register(plugin: Any, name: str) -> Any:
            return stack.enter_context(register_temporarily(plugin, name))

        yield register


def check_dataset_source(source: DatasetSource, limit: int = 8, options: dict[str, Any] | None = None,
                         path: str | None = None) -> dict[str, list[Row]]:
    """Every split loads ``limit`` rows or fewer in the common schema (``image``, a ``problem`` string, a
    ``solution`` with ``<answer>...</answer>``), and the same request gives the same rows again."""
    assert isinstance(source, DatasetSource), f"expected a DatasetSource, got {type(source).__name__}"
    loaded = {}
    for split in source.splits:
        request = LoadRequest(split=split, path=path, limit=limit, seed=0, options=dict(options or {}))
        rows = list(source.load(request))
        assert rows, f"{source.name}: split {split!r} returned no rows"
        assert len(rows) <= limit, f"{source.name}: split {split!r} returned {len(rows)} rows for limit {limit}"
        for index, row in enumerate(rows):
            where = f"{source.name}: split {split!r}, row {index}"
            missing = [c for c in ("image", "problem", "solution") if c not in row]
            assert not missing, f"{where} has no {', '.join(missing)} column"
            assert isinstance(row["problem"], str) and row["problem"], f"{where}: problem is not a non-empty string"
            assert isinstance(row["solution"], str) and answer_span(row["solution"]) is not None, \
                f"{where}: solution {row['solution']!r:.80} has no <answer>...</answer>"
        again = list(source.load(request))
        assert [(r["problem"], r["solution"]) for r in again] == [(r["problem"], r["solution"]) for r in rows], \
            f"{source.name}: split {split!r} gave other rows for the same request (seed it from request.seed)"
        loaded[split] = rows
    return loaded


def check_verifier(verifier: Verifier, rows: Sequence[Row], wrong: dict[int, str] | None = None) -> None:
    """A completion giving each row's reference answer earns the verifier's maximum, the ``wrong`` answers
    (row index -> answer; by default a plausible wrong one where modomodo can make it) earn less, and junk
    (empty, unclosed tags, 100,000 characters, NUL) stays in range without raising."""
    from .commands.check import wrong_answer

    assert isinstance(verifier, Verifier), f"expected a Verifier, got {type(verifier).__name__}"
    low, high = verifier.value_range
    assert rows, "check_verifier needs rows (check_dataset_source returns some)"
    for index, row in enumerate(rows):
        reference = answer_span(row["solution"])
        reference = row["solution"] if reference is None else reference
        value = verifier(completion("reference", reference), row)
        assert value == high, f"{verifier.name}: row {index}'s reference {reference!r:.60} scored {value}, not {high}"
        bad = (wrong or {}).get(index)
        if bad is None and wrong is None:
            made = wrong_answer(reference, row.get("image"))
            bad = None if made is None else made[1]
        if bad is not None:
            value = verifier(completion("wrong", bad), row)
            assert value < high, f"{verifier.name}: row {index}: the wrong answer {bad!r:.60} scored full reward"
        for junk in JUNK:
            value = verifier(junk, row)
            assert low <= value <= high, f"{verifier.name}: junk {junk!r:.30} scored {value}, outside {low}..{high}"


def check_optimizer(factory: OptimizerFactory, domains: Sequence[str] = ("a", "b", "c"),
                    objective: str = "out_score", rows: int = 12, **options: Any) -> list[Mixture]:
    """Proposals are ``n`` mixtures over exactly ``domains``, the same for the same seed and history; a
    history too short for the strategy raises ``HistoryError`` (nothing else); a ``recommend`` answers with
    tried and simplex picks over the same domains."""
    assert isinstance(factory, OptimizerFactory), f"expected an OptimizerFactory, got {type(factory).__name__}"
    rng = random.Random(0)
    history = []
    for _ in range(rows):
        weights = [rng.random() for _ in domains]
        mixture = Mixture.normalised(zip(domains, weights))
        score = 0.5 - sum((w - 1 / len(domains)) ** 2 for w in mixture.values()) + rng.gauss(0, 0.005)
        history.append(Observation(mixture, {objective: score, f"{objective}_stderr": 0.005}))
    proposals = checked_proposals(factory.name, factory(domains, objective=objective, seed=0, **options)
                                  .propose(history, 2), domains)
    assert len(proposals) == 2, f"{factory.name}: asked for 2 proposals, got {len(proposals)}"
    again = checked_proposals(factory.name, factory(domains, objective=objective, seed=0, **options)
                              .propose(history, 2), domains)
    assert again == proposals, f"{factory.name}: the same seed and history gave other proposals"
    try:
        checked_proposals(factory.name, factory(domains, objective=objective, seed=0, **options).propose([], 1),
                          domains)
    except HistoryError:
        pass
    optimizer = factory(domains, objective=objective, seed=0, **options)
    if hasattr(optimizer, "recommend"):
        picks = optimizer.recommend(history)
        assert picks and picks[0].among == "tried", f"{factory.name}: recommend() must start with the tried pick"
        assert picks[0].mixture in [o.mixture for o in history], f"{factory.name}: the tried pick was not tried"
        for pick in picks:
            assert set(pick.mixture) == set(domains), f"{factory.name}: a recommendation over other domains"
    return proposals
