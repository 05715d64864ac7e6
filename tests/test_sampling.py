"""The paper's two-stage mixture draw: proportions, reproducibility, and the two exhaustion rules."""

import pytest

from modomodo_plugins.trl_grpo.sampling import domain_counts, draw_sequence


def test_same_seed_same_sequence_and_another_seed_differs():
    weights, sizes = {"a": 0.3, "b": 0.7}, {"a": 500, "b": 500}
    first = draw_sequence(weights, sizes, 200, seed=7)
    assert first == draw_sequence(weights, sizes, 200, seed=7)
    assert first != draw_sequence(weights, sizes, 200, seed=8)


def test_counts_follow_the_mixture():
    counts = domain_counts(draw_sequence({"a": 0.25, "b": 0.75}, {"a": 10_000, "b": 10_000}, 4000, seed=0))
    # binomial standard deviation is sqrt(4000 * 0.25 * 0.75) = 27; allow 4 of them
    assert abs(counts["a"] - 1000) < 110
    assert counts["a"] + counts["b"] == 4000


def test_every_example_is_unseen_until_its_domain_is_exhausted():
    sequence = draw_sequence({"a": 0.5, "b": 0.5}, {"a": 30, "b": 1000}, 500, seed=3)
    drawn_a = [d.index for d in sequence if d.domain == "a"]
    assert sorted(drawn_a) == list(range(30))


def test_stop_ends_the_stream_when_the_picked_domain_is_exhausted():
    sequence = draw_sequence({"a": 0.5, "b": 0.5}, {"a": 30, "b": 1000}, 500, seed=3, on_exhausted="stop")
    assert len(sequence) < 500
    assert domain_counts(sequence)["a"] == 30


def test_repeat_starts_a_new_pass():
    sequence = draw_sequence({"a": 0.5, "b": 0.5}, {"a": 30, "b": 1000}, 500, seed=3, on_exhausted="repeat")
    assert len(sequence) == 500
    first_pass = [d.index for d in sequence if d.domain == "a"][:30]
    assert sorted(first_pass) == list(range(30))


def test_zero_weight_domains_are_never_drawn():
    sequence = draw_sequence({"a": 1.0, "b": 0.0}, {"a": 50, "b": 50}, 40, seed=1)
    assert domain_counts(sequence) == {"a": 40}


def test_a_weighted_domain_without_rows_is_an_error():
    with pytest.raises(ValueError, match="no rows: b"):
        draw_sequence({"a": 0.5, "b": 0.5}, {"a": 5, "b": 0}, 4, seed=0)
