"""Golden cases for every bundled verifier: the paper's answers, box conventions, COCO matching, hacks."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from modomodo import get_component
from modomodo_plugins.verifiers.boxes import smart_resize

FIGURE_2_ANSWER = "<think> ... </think> <answer> B </answer>"
FIGURE_8_SOLUTION = "<answer>[{'Position': [422, 781, 464, 926], 'Confidence': 1}]</answer>"


def score(name: str, completion: str, solution: str, **row) -> float:
    return get_component("verifiers", name)(completion, {"solution": solution, **row})


def answer(text: str, reasoning: str = "reasoning") -> str:
    return f"<think>{reasoning}</think><answer>{text}</answer>"


# --- format ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("completion", [
    FIGURE_2_ANSWER,
    "<think>\nThe goalkeeper guards the goal.\n</think>\n<answer>\nB\n</answer>\n",
    "  <think></think><answer>B</answer>  ",
])
def test_strict_format_accepts_think_then_answer(completion):
    assert score("format", completion, "B") == 1.0
    assert score("format-lenient", completion, "B") == 1.0


@pytest.mark.parametrize("completion", [
    "<answer>B</answer>",                                        # no reasoning block
    "<think>x</think> so <answer>B</answer>",                    # text between the blocks
    "<think>x</think><answer>B</answer> done",                   # text after the answer
    "<think>x</think><answer>A</answer><answer>B</answer>",      # two answers
    "<think><think>x</think></think><answer>B</answer>",         # nested reasoning
    "<answer>B</answer><think>x</think>",                        # wrong order
    "<think>x</think><answer>  </answer>",                       # empty answer
    "B",
])
def test_strict_format_rejects_anything_else(completion):
    assert score("format", completion, "B") == 0.0


def test_lenient_format_needs_only_a_non_empty_answer():
    assert score("format-lenient", "blah <answer>B</answer> blah", "B") == 1.0
    assert score("format-lenient", "<answer> </answer>", "B") == 0.0
    assert score("format-lenient", "<answer>B", "B") == 0.0


# --- choice and exact -----------------------------------------------------------------------------

def test_figure_2_answer_is_correct_for_b():
    assert score("choice", FIGURE_2_ANSWER, "<answer>B</answer>") == 1.0
    assert score("exact", FIGURE_2_ANSWER, "<answer>B</answer>") == 1.0
    assert score("choice", FIGURE_2_ANSWER, "<answer>C</answer>") == 0.0


@pytest.mark.parametrize(("completion", "expected"), [
    (answer("(B)"), 1.0),
    (answer("b"), 1.0),
    (answer("B. the hawk"), 1.0),
    (answer("A is tempting, but the answer is B."), 1.0),  # the last stand-alone capital letter
    (answer("B, no wait, C"), 0.0),
    (answer("ABC"), 0.0),                                   # not stand-alone
    ("B", 1.0),                                             # no tags: the whole completion is the answer
])
def test_choice_reads_the_option_letter(completion, expected):
    assert score("choice", completion, "<answer>B</answer>") == expected


def test_choice_falls_back_to_exact_match_for_a_phrase_reference():
    assert score("choice", answer("Left"), "<answer>left</answer>") == 1.0
    assert score("choice", answer("right"), "<answer>left</answer>") == 0.0


@pytest.mark.parametrize(("given", "reference"), [
    ("3.0", "3"),
    ("1,234", "1234"),
    ("45%", "45"),
    ("  The  Red   Car. ", "the red car"),
    ("**left**", "left"),
    ("B) the hawk", "B"),
    ("Ｂ", "B"),  # full-width letter, NFKC
])
def test_exact_normalises_both_sides(given, reference):
    assert score("exact", answer(given), f"<answer>{reference}</answer>") == 1.0


@pytest.mark.parametrize(("given", "reference"), [
    ("4", "3"),
    ("0.45", "45%"),
    ("A dog", "A"),          # a word, not an option letter
    ("left side", "left"),
    ("", "3"),
])
def test_exact_rejects_near_misses(given, reference):
    assert score("exact", answer(given), f"<answer>{reference}</answer>") == 0.0


# --- math -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "reference", "expected"), [
    (r"\frac{1}{2}", "0.5", 1.0),
    ("x = 2", "2", 1.0),
    ("$3$", "<answer>3</answer>", 1.0),
    ("3", "2", 0.0),
])
def test_math_compares_values(given, reference, expected):
    assert score("math", answer(given), reference) == expected


def test_math_gives_up_on_an_answer_that_never_evaluates():
    started = time.perf_counter()
    assert score("math", answer("9**9**9**9"), "2") == 0.0
    assert time.perf_counter() - started < 15


def test_math_is_safe_off_the_main_thread():
    """No signal there: the check runs in a helper process with a deadline, and still gets it right."""
    jobs = [(answer(r"\frac{1}{2}"), "0.5"), (answer("9**9**9**9"), "2"), (answer("7"), "7")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: score("math", *job), jobs))
    assert results == [1.0, 0.0, 1.0]


# --- boxes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["iou-coco", "iou-binary", "iou-mean"])
def test_figure_8_answer_matches_its_solution(name):
    assert score(name, answer("[{'Position': [422, 781, 464, 926], 'Confidence': 1}]"), FIGURE_8_SOLUTION) == 1.0
    assert score(name, answer("[422, 781, 464, 926]"), FIGURE_8_SOLUTION) == 1.0  # the paper's raw form


@pytest.mark.parametrize("name", ["iou-coco", "iou-binary", "iou-mean"])
def test_y1_hack_from_paper_scores_zero(name):
    """math-verify read both as the number 20 (their first y1) and paid 1.0; no box verifier may."""
    assert score(name, answer("[90, 20, 95, 25]"), "<answer>[10, 20, 50, 60]</answer>") == 0.0


# A 640x480 image whose reference box is [64, 48, 320, 240] pixels, written in each convention.
CONVENTION_CASES = [
    ("pixels", "[64, 48, 320, 240]"),
    ("rel1000", "[100, 100, 500, 500]"),
    ("rel1000", "<|box_start|>(100,100),(500,500)<|box_end|>"),  # Qwen2-VL's own grounding syntax
    # smart_resize(480, 640) = (476, 644): x scales by 644/640, y by 476/480
    ("resized-input", "[64.4, 47.6, 322, 238]"),
]


@pytest.mark.parametrize(("convention", "box"), CONVENTION_CASES)
@pytest.mark.parametrize("name", ["iou-coco", "iou-binary", "iou-mean"])
def test_box_conventions_convert_to_image_pixels(name, convention, box):
    reference = "<answer>[{'Position': [64, 48, 320, 240], 'Confidence': 1}]</answer>"
    assert score(name, answer(box), reference, bbox=convention, image_width=640, image_height=480) == pytest.approx(1.0)


def test_image_size_comes_from_the_pil_image():
    from PIL import Image

    row = {"bbox": "rel1000", "image": Image.new("RGB", (640, 480))}
    assert score("iou-mean", answer("[100, 100, 500, 500]"), "[64, 48, 320, 240]", **row) == pytest.approx(1.0)


def test_a_pixel_answer_read_as_rel1000_misses():
    """The most common cause of 'IoU is always zero': the wrong convention."""
    assert score("iou-mean", answer("[64, 48, 320, 240]"), "[64, 48, 320, 240]",
                 bbox="rel1000", image_width=640, image_height=480) < 0.5


def test_resized_input_uses_the_rows_pixel_bounds():
    # a 2000x1000 image under max_pixels 28*28*1280 becomes 1400x700: every coordinate times 0.7
    row = {"bbox": "resized-input", "image_width": 2000, "image_height": 1000}
    assert score("iou-mean", answer("[140, 70, 700, 350]"), "[200, 100, 1000, 500]", **row) == pytest.approx(1.0)
    # with max_pixels 28*28*256 the same image becomes 616x308
    row["max_pixels"] = 28 * 28 * 256
    assert smart_resize(1000, 2000, max_pixels=28 * 28 * 256) == (308, 616)
    assert score("iou-mean", answer("[61.6, 30.8, 308, 154]"), "[200, 100, 1000, 500]", **row) == pytest.approx(1.0)


@pytest.mark.parametrize(("height", "width"), [(480, 640), (1000, 2000), (20, 20), (37, 4000), (3000, 3000)])
def test_smart_resize_equals_transformers(height, width):
    reference = pytest.importorskip("transformers.models.qwen2_vl.image_processing_pil_qwen2_vl")
    assert smart_resize(height, width) == reference.smart_resize(height, width)


def test_a_missing_image_size_scores_zero_and_says_why():
    verifier = get_component("verifiers", "iou-mean")
    row = {"solution": "[0, 0, 10, 10]", "bbox": "rel1000"}
    assert verifier(answer("[0, 0, 10, 10]"), row) == 0.0
    with pytest.raises(ValueError, match="image_width"):
        verifier.score(answer("[0, 0, 10, 10]"), row)


def test_binary_and_mean_iou_below_the_threshold():
    # [0,0,10,10] vs [5,0,15,10]: intersection 50, union 150
    assert score("iou-mean", answer("[5, 0, 15, 10]"), "[0, 0, 10, 10]") == pytest.approx(1 / 3)
    assert score("iou-binary", answer("[5, 0, 15, 10]"), "[0, 0, 10, 10]") == 0.0
    assert score("iou-binary", answer("[1, 0, 11, 10]"), "[0, 0, 10, 10]") == 1.0  # IoU 9/11


def test_iou_binary_uses_only_the_first_box():
    assert score("iou-binary", answer("[50, 50, 60, 60], [0, 0, 10, 10]"), "[0, 0, 10, 10]") == 0.0


COCO_REFERENCE = ("<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}, "
                  "{'Position': [20, 20, 30, 30], 'Confidence': 1}, "
                  "{'Position': [40, 40, 50, 50], 'Confidence': 1}]</answer>")


def test_coco_matching_with_duplicates_and_a_weak_prediction():
    predictions = ('[{"Position": [0, 0, 10, 10], "Confidence": 0.9}, '
                   '{"Position": [0, 0, 10, 10], "Confidence": 0.8}, '      # duplicate: dropped
                   '{"Confidence": 0.7, "Position": [21, 21, 31, 31]}, '    # IoU 81/119 with the second
                   '{"Position": [44, 44, 54, 54], "Confidence": 0.95}]')   # IoU 36/164 with the third: no match
    expected = (1.0 + 81 / 119) / 3  # three unique predictions, three references
    assert score("iou-coco", answer(predictions), COCO_REFERENCE) == pytest.approx(expected)


def test_coco_matching_is_greedy_by_confidence():
    reference = "[0, 0, 10, 10]"
    # the more confident prediction takes the only reference box with IoU 0.8; the exact one gets nothing
    predictions = "[{'Position': [0, 0, 10, 8], 'Confidence': 0.9}, {'Position': [0, 0, 10, 10], 'Confidence': 0.5}]"
    assert score("iou-coco", answer(predictions), reference) == pytest.approx(0.8 / 2)


def test_coco_penalises_extra_and_missing_boxes():
    one_of_three = "[{'Position': [0, 0, 10, 10], 'Confidence': 1}]"
    assert score("iou-coco", answer(one_of_three), COCO_REFERENCE) == pytest.approx(1 / 3)
    spam = ", ".join(f"[{x}, 0, {x + 10}, 10]" for x in range(0, 100, 10))
    assert score("iou-coco", answer(spam), "[0, 0, 10, 10]") == pytest.approx(1 / 10)


@pytest.mark.parametrize("box", ["[10, 10, 0, 0]", "[nan, 0, 10, 10]", "[0, 0, inf, 10]", "[0, 0, 0, 10]"])
@pytest.mark.parametrize("name", ["iou-coco", "iou-binary", "iou-mean"])
def test_invalid_boxes_score_zero(name, box):
    assert score(name, answer(box), "[0, 0, 10, 10]") == 0.0


def test_negative_coordinates_are_ordinary_pixels():
    assert score("iou-mean", answer("[-10, -10, 10, 10]"), "[-10, -10, 10, 10]") == 1.0
