"""Property tests: whatever a policy writes, every verifier answers quickly, in range, without raising.

The raw ``score`` functions are tested, not the clamping ``Verifier`` wrapper, so that an exception
or an out-of-range value cannot hide behind the wrapper.
"""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modomodo import get_component
from modomodo_plugins.verifiers import VERIFIERS

NAMES = [verifier.name for verifier in VERIFIERS]
BOX_NAMES = ["iou-coco", "iou-binary", "iou-mean"]
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FRAGMENTS = ["<think>", "</think>", "<answer>", "</answer>", "<answer", "answer>", "[", "]", "{", "}", "(", ")",
             "'Position': ", "\"Confidence\": ", ",", ":", "nan", "inf", "-inf", "1e308", "-3", "0.5", "B", "A",
             "\\frac{1}{2}", "9**9**9", "^", "$", "\n", " ", "\u200b", "\U0001f600", "\x00", "\ud7ff"]

adversarial_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12), st.integers(-10**6, 10**6).map(str)),
    max_size=60,
).map("".join)

coordinates = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9))
raw_boxes = st.lists(st.tuples(coordinates, coordinates, coordinates, coordinates, coordinates), max_size=30)

side = st.integers(1, 4000)
rows = st.fixed_dictionaries(
    {
        "solution": st.one_of(
            st.sampled_from(["<answer>B</answer>", "3", "<answer>left</answer>", "[0, 0, 10, 10]",
                             "<answer>[{'Position': [422, 781, 464, 926], 'Confidence': 1}]</answer>", ""]),
            adversarial_text,
        ),
        "bbox": st.sampled_from(["pixels", "rel1000", "resized-input"]),
        "image_width": side,
    }
).flatmap(lambda row: st.integers(max(1, -(-row["image_width"] // 200)), min(4000, row["image_width"] * 200))
          .map(lambda height: {**row, "image_height": height}))


def render(boxes, as_records: bool) -> str:
    if as_records:
        return "[" + ", ".join(f"{{'Position': [{a}, {b}, {c}, {d}], 'Confidence': {e}}}" for a, b, c, d, e in boxes) + "]"
    return "[" + ", ".join(f"[{a}, {b}, {c}, {d}]" for a, b, c, d, _ in boxes) + "]"


def assert_in_range(name: str, completion: str, row: dict) -> float:
    verifier = get_component("verifiers", name)
    value = verifier.score(completion, row)
    low, high = verifier.value_range
    assert not math.isnan(value) and low <= value <= high, (name, value)
    return value


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(completion=adversarial_text, row=rows)
def test_adversarial_text_scores_in_range(name, completion, row):
    assert_in_range(name, completion, row)


@pytest.mark.parametrize("name", BOX_NAMES)
@FAST
@given(boxes=raw_boxes, as_records=st.booleans(), row=rows)
def test_nan_inf_negative_and_inverted_boxes_score_in_range(name, boxes, as_records, row):
    assert_in_range(name, f"<think>x</think><answer>{render(boxes, as_records)}</answer>", row)


valid_boxes = st.lists(
    st.tuples(st.integers(0, 1000), st.integers(0, 1000), st.integers(1, 500), st.integers(1, 500))
    .map(lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3], 1)),
    min_size=1, max_size=20, unique_by=lambda b: b[:4],
)


@pytest.mark.parametrize("name", BOX_NAMES)
@FAST
@given(boxes=valid_boxes)
def test_the_reference_itself_earns_full_reward(name, boxes):
    solution = f"<answer>{render(boxes, as_records=True)}</answer>"
    assert assert_in_range(name, f"<think>x</think>{solution}", {"solution": solution}) == 1.0


@pytest.mark.parametrize("name", ["choice", "exact", "math"])
@FAST
@given(reasoning=st.text(max_size=200).filter(lambda t: "<" not in t), letter=st.sampled_from("ABCDEFGH"))
def test_only_the_answer_counts_not_the_reasoning(name, reasoning, letter):
    row = {"solution": "<answer>7</answer>" if name == "math" else f"<answer>{letter}</answer>"}
    given_answer = "7" if name == "math" else letter
    assert assert_in_range(name, f"<think>{reasoning}</think><answer>{given_answer}</answer>", row) == 1.0


def long_completions() -> dict[str, str]:
    """100,000-character completions built to hurt: repeated and nested tags, 10,000 boxes, junk."""
    size = 100_000
    ten_thousand_boxes = ", ".join(f"{{'Position': [{i}, {i}, {i + 5}, {i + 5}], 'Confidence': 0.5}}" for i in range(10_000))
    return {
        "repeated answer tags": ("<answer>" * size)[:size],
        "nested tags": ("<think><answer>" * size)[:size] + "</answer></think>",
        "ten thousand boxes": f"<think>x</think><answer>[{ten_thousand_boxes}]</answer>",
        "unclosed records": ("{'Position': [1, 2, 3" * size)[:size],
        "one long number": "<answer>[" + "9" * size + ", 1, 2, 3]</answer>",
        "unicode junk": ("\U0001f600\u200b\x00é" * size)[:size],
        "letters": ("A B " * size)[:size],
        "math-looking": ("1+" * size)[:size] + "1",
    }


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", list(long_completions()))
def test_a_100k_character_completion_is_scored_quickly(name, kind):
    completion = long_completions()[kind]
    row = {"solution": "<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}]</answer>",
           "bbox": "rel1000", "image_width": 640, "image_height": 480}
    started = time.perf_counter()
    assert_in_range(name, completion, row)
    assert time.perf_counter() - started < (3.0 if name == "math" else 1.0)  # loose: benchmarks/verifiers.py measures


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=5, deadline=None)
@given(unit=st.text(min_size=1, max_size=40))
def test_any_text_repeated_to_100k_characters_is_scored_quickly(name, unit):
    completion = unit * (100_000 // len(unit))
    started = time.perf_counter()
    assert_in_range(name, completion, {"solution": "<answer>B</answer>"})
    assert time.perf_counter() - started < (3.0 if name == "math" else 1.0)
