"""Mixture: a value type on the simplex that rejects what is not a mixture, with a reason."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modomodo import Mixture, MixtureError


def test_keeps_given_order_for_printing_and_vectors():
    mixture = Mixture({"lisa": 0.5, "coco": 0.25, "scienceqa": 0.25})
    assert list(mixture) == ["lisa", "coco", "scienceqa"]
    assert str(mixture) == "lisa=0.5,coco=0.25,scienceqa=0.25"
    assert repr(mixture) == "Mixture(lisa=0.5,coco=0.25,scienceqa=0.25)"
    assert mixture.vector() == [0.5, 0.25, 0.25]
    assert mixture.vector(["coco", "lisa", "geo"]) == [0.25, 0.5, 0.0]


def test_equality_and_hash_ignore_order():
    first = Mixture([("a", 0.3), ("b", 0.7)])
    second = Mixture([("b", 0.7), ("a", 0.3)])
    assert first == second and hash(first) == hash(second)
    assert len({first, second}) == 1


def test_is_an_immutable_mapping():
    mixture = Mixture({"a": 1.0})
    assert mixture["a"] == 1.0 and len(mixture) == 1 and dict(mixture) == {"a": 1.0}
    with pytest.raises(TypeError):
        mixture["a"] = 0.5  # type: ignore[index]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({}, "at least one domain"),
        ({"a": -0.1, "b": 1.1}, "weight of 'a' must be >= 0, got -0.1"),
        ({"a": math.nan, "b": 1.0}, "weight of 'a' must be finite, got nan"),
        ({"a": math.inf}, "weight of 'a' must be finite"),
        ({"a": "lots"}, "weight of 'a' must be a number, got 'lots'"),
        ({"a": True}, "weight of 'a' must be a number, got True"),
        ({"": 1.0}, "domain names must be non-empty strings"),
        ({"a": 0.5, "b": 0.4}, "weights must sum to 1 (within 1e-06), they sum to 0.9"),
    ],
)
def test_rejects_what_is_not_a_mixture(weights, message):
    with pytest.raises(MixtureError) as error:
        Mixture(weights)
    assert message in str(error.value)


def test_rejects_a_domain_given_twice():
    with pytest.raises(MixtureError, match="domain 'a' is given twice"):
        Mixture([("a", 0.5), ("a", 0.5)])


def test_sum_tolerance_is_one_in_a_million():
    assert Mixture({"a": 0.5, "b": 0.5 + 9e-7})
    with pytest.raises(MixtureError):
        Mixture({"a": 0.5, "b": 0.5 + 2e-6})


def test_normalised_rescales_and_clips_solver_noise():
    mixture = Mixture.normalised({"a": 2.0, "b": 6.0, "c": -1e-12})
    assert mixture == Mixture({"a": 0.25, "b": 0.75, "c": 0.0})


@pytest.mark.parametrize("weights", [{"a": 0.0, "b": 0.0}, {"a": -1.0, "b": 2.0}, {"a": math.nan}, {"a": "x"}])
def test_normalised_rejects_weights_it_cannot_rescale(weights):
    with pytest.raises(MixtureError):
        Mixture.normalised(weights)


def test_uniform():
    assert Mixture.uniform(["a", "b", "c", "d"]).vector() == [0.25] * 4


def test_parse_key_value_text_and_json():
    assert Mixture.parse("coco=0.2, lisa=0.8") == Mixture({"coco": 0.2, "lisa": 0.8})
    assert Mixture.parse('{"coco": 0.2, "lisa": 0.8}') == Mixture({"coco": 0.2, "lisa": 0.8})


def test_parse_with_domains_fills_missing_with_zero_in_domain_order():
    mixture = Mixture.parse("lisa=1", domains=["coco", "lisa", "geo"])
    assert list(mixture.items()) == [("coco", 0.0), ("lisa", 1.0), ("geo", 0.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("coco=0.2,lsia=0.8", "unknown domain(s) 'lsia'; expected some of coco, lisa"),
        ("coco:0.2", "expected 'domain=weight', got 'coco:0.2'"),
        ("coco=much", "weight of 'coco' must be a number, got 'much'"),
        ("{not json", "not valid JSON"),
        ("[0.5, 0.5]", "expected 'domain=weight'"),
        ("coco=0.5,lisa=0.4", "they sum to 0.9"),
    ],
)
def test_parse_errors_say_what_is_wrong(text, message):
    with pytest.raises(MixtureError) as error:
        Mixture.parse(text, domains=["coco", "lisa"])
    assert message in str(error.value)


weights = st.lists(st.floats(min_value=0.0, max_value=1e3, allow_nan=False), min_size=1, max_size=12).filter(
    lambda values: math.fsum(values) > 1e-6
)


@given(weights)
def test_normalised_weights_always_form_a_mixture(values):
    mixture = Mixture.normalised({f"d{i}": v for i, v in enumerate(values)})
    assert abs(math.fsum(mixture.values()) - 1.0) <= 1e-6
    assert all(w >= 0 for w in mixture.values())


@given(weights)
def test_printed_and_json_mixtures_parse_back(values):
    mixture = Mixture.normalised({f"d{i}": v for i, v in enumerate(values)})
    assert Mixture.parse(mixture.to_json()) == mixture
    reparsed = Mixture.parse(str(mixture))
    assert list(reparsed) == list(mixture)
    assert all(abs(reparsed[name] - mixture[name]) < 1e-3 for name in mixture)


def test_to_json_is_a_plain_object():
    assert json.loads(Mixture({"a": 0.25, "b": 0.75}).to_json()) == {"a": 0.25, "b": 0.75}
