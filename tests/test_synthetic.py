"""The embedded testbed: deterministic rows, separate splits, answers that match the pictures, a sound design."""

from __future__ import annotations

import ast
import hashlib
import re
import time

import pytest

from modomodo import DatasetError, LoadRequest, get_component
from modomodo_plugins.synthetic.scenes import BACKGROUND, COLOURS, SHAPES

DOMAINS = ("synth-detect", "synth-ground", "synth-geometry", "synth-spatial", "synth-science")
BENCHMARKS = ("synth-chart", "synth-count", "synth-compose")
SOURCES = DOMAINS + BENCHMARKS
ANSWER = re.compile(r"^<answer>(.*)</answer>$", re.S)


def load(name, split="train", limit=None, seed=0, **options):
    return get_component("datasets", name).load(LoadRequest(split=split, limit=limit, seed=seed, options=options))


def answer_of(row) -> str:
    return ANSWER.match(row["solution"]).group(1)


def chosen_option(row) -> str:
    """The answer's text: the option a letter points at, or the answer itself."""
    answer = answer_of(row)
    option = re.search(rf"\n{answer}\. (.+)\n", row["problem"]) if len(answer) == 1 else None
    return option.group(1) if option else answer


def fingerprint(row) -> str:
    return hashlib.sha1(row["image"].tobytes() + row["problem"].encode()).hexdigest()


def answer_form(row) -> str:
    """What kind of answer a row wants: boxes, an option letter, a number, or which word list."""
    answer = answer_of(row)
    if answer.startswith("[{'Position'"):
        return "boxes"
    if re.fullmatch(r"[A-H]", answer) and "\nOptions:\n" in row["problem"]:
        return "letter"
    if answer.isdigit():
        return "number"
    for form, words in (("colour", COLOURS), ("yes/no", ("yes", "no")), ("shape", SHAPES)):
        if answer in words:
            return form
    raise AssertionError(f"unexpected answer {answer!r}")


@pytest.mark.parametrize("name", SOURCES)
def test_every_source_has_train_test_and_warmup(name):
    assert get_component("datasets", name).splits == ("train", "test", "warmup")


@pytest.mark.parametrize("name", SOURCES)
def test_rows_are_a_pure_function_of_seed_split_and_index(name):
    first = [fingerprint(row) for row in load(name, limit=12, seed=3)]
    assert first == [fingerprint(row) for row in load(name, limit=12, seed=3)]
    assert first[:5] == [fingerprint(row) for row in load(name, limit=5, seed=3)]
    assert len(set(first) & {fingerprint(row) for row in load(name, limit=12, seed=4)}) <= 1


@pytest.mark.parametrize("name", SOURCES)
def test_splits_never_share_a_row(name):
    seen = {split: {fingerprint(row) for row in load(name, split, limit=150)} for split in ("train", "test", "warmup")}
    assert not seen["train"] & seen["test"]
    assert not seen["train"] & seen["warmup"]
    assert not seen["test"] & seen["warmup"]


@pytest.mark.parametrize("name", SOURCES)
def test_rows_are_well_formed_in_the_paper_templates(name):
    for row in load(name, limit=200):
        assert row["image"].size == (84, 84) and row["image"].mode == "RGB"
        assert row["problem"].endswith(("in <answer> </answer> tags.", "Please strictly follow the format."))
        assert row["level"] in (1, 2, 3) and row["task"]
        form = answer_form(row)
        if form == "letter":
            assert f"\n{answer_of(row)}. " in row["problem"]  # the letter is one of the options shown
        if form == "boxes":
            for box in ast.literal_eval(answer_of(row)):
                x1, y1, x2, y2 = box["Position"]
                assert 0 <= x1 < x2 < 84 and 0 <= y1 < y2 < 84


@pytest.mark.parametrize("name", SOURCES)
def test_warmup_rows_carry_a_short_full_completion(name):
    for row in load(name, "warmup", limit=100):
        think, answer = re.fullmatch(r"<think>(.+)</think><answer>(.+)</answer>", row["reference"]).groups()
        assert f"<answer>{answer}</answer>" == row["solution"]
        assert len(think) <= 40  # the tiny model's completions hold about 32-48 tokens
    assert "reference" not in load(name, "train", limit=1)[0]


def test_every_benchmark_answer_form_is_taught_by_a_training_domain():
    """A benchmark whose answer form no domain teaches scores 0 under every mixture (testbed-notes point 4)."""
    forms = {name: {answer_form(row) for row in load(name, "test", limit=300)} for name in SOURCES}
    taught = set().union(*(forms[name] for name in DOMAINS))
    for name in BENCHMARKS:
        assert forms[name] <= taught, f"{name} needs {forms[name] - taught}, which no domain teaches"
    # and the forms compete: numbers come only from spatial, letters for counts only from geometry
    assert {"number"} <= forms["synth-spatial"] and "number" not in forms["synth-geometry"]


@pytest.mark.parametrize("name", SOURCES)
def test_each_source_mixes_difficulty_levels_and_tasks(name):
    rows = load(name, limit=300)
    levels = {row["level"] for row in rows}
    assert levels == {1, 2, 3}
    assert len({row["task"] for row in rows}) >= (1 if name == "synth-detect" else 3)
    assert {row["level"] for row in load(name, limit=50, levels=[2])} == {2}


def test_detect_boxes_cover_shapes_of_the_named_colour():
    for row in load("synth-detect", limit=200):
        colour = next((c for c in COLOURS if f" {c} " in row["problem"]), None)
        for box in ast.literal_eval(answer_of(row)):
            x1, y1, x2, y2 = box["Position"]
            pixel = row["image"].getpixel(((x1 + x2) // 2, (y1 + y2) // 2))
            assert pixel != BACKGROUND
            if colour is not None:
                assert pixel == COLOURS[colour]


def test_chart_tallest_and_shortest_answers_match_the_drawn_bars():
    checked = 0
    for row in load("synth-chart", limit=200):
        if row["task"] != "chart-extreme":
            continue
        pixels = list(row["image"].getdata())
        areas = {colour: pixels.count(rgb) for colour, rgb in COLOURS.items() if rgb in pixels}
        pick = max if "tallest" in row["problem"] else min
        assert answer_of(row) == pick(areas, key=areas.get)
        checked += 1
    assert checked > 30


@pytest.mark.parametrize("name, task", [("synth-spatial", "spatial-count"), ("synth-compose", "compose-relation-count")])
def test_relation_counts_are_not_given_away_by_the_relation(name, task):
    """Each relation word must come with several different counts, or the answer is readable from the text."""
    answers: dict[str, set[str]] = {}
    for row in load(name, limit=600):
        if row["task"] == task:
            relation = re.search(r"are (left of|right of|above|below) the", row["problem"]).group(1)
            answers.setdefault(relation, set()).add(chosen_option(row))
    assert set(answers) == {"left of", "right of", "above", "below"}
    for relation, seen in answers.items():
        assert len(seen) >= 3, relation


def test_options_size_image_size_and_bad_options():
    assert len(load("synth-count", size=7)) == 7
    assert len(load("synth-count", size=7, limit=3)) == 3
    assert len(load("synth-count", "test")) == 500  # defaults: train 2000, test 500, warmup 1000
    assert load("synth-ground", limit=1, image_size=112)[0]["image"].size == (112, 112)
    assert load("synth-ground", limit=1, image_size=56)[0]["image"].size == (56, 56)
    with pytest.raises(DatasetError, match="options.image_size"):
        load("synth-ground", image_size=10)
    with pytest.raises(DatasetError, match="unknown option"):
        load("synth-ground", colours=3)
    with pytest.raises(DatasetError, match="options.levels"):
        load("synth-ground", levels=[4])
    with pytest.raises(DatasetError, match="no split 'val'"):
        load("synth-ground", "val")


@pytest.mark.parametrize("name", SOURCES)
def test_thousands_of_rows_are_cheap(name):
    start = time.perf_counter()
    assert len(load(name, limit=1000)) == 1000
    assert time.perf_counter() - start < 10  # loose: about 0.1-0.2 s on two shared cores


def test_perception_answers_are_balanced_and_match_the_picture():
    """The base's pretraining rows: the question text must not give the answer away (no prior to learn)."""
    rows = load("synth-perception", "warmup", limit=600)
    for task in {row["task"] for row in rows} - {"box-of-shape"}:
        answers = [answer_of(row) for row in rows if row["task"] == task]
        assert max(answers.count(a) for a in set(answers)) / len(answers) < 0.6, task
    checked = set()
    for row in rows:
        answer, problem = answer_of(row), row["problem"]
        if row["task"] in ("perceive-where", "bind-where"):
            named = re.search(r"Where is the (\w+) (\w+)\?", problem)
            colour = COLOURS[named.group(1)] if named else None
            pixels = [(x, y) for x in range(84) for y in range(84)
                      if row["image"].getpixel((x, y)) != BACKGROUND and colour in (None, row["image"].getpixel((x, y)))]
            axis = 0 if "left" in problem else 1
            centre = sum(p[axis] for p in pixels) / len(pixels)
            words = ("left", "middle", "right") if axis == 0 else ("top", "middle", "bottom")
            assert answer == words[int(centre * 3 / 84)], problem
        if row["task"] == "perceive-colour":
            assert COLOURS[answer] in {colour for _, colour in row["image"].getcolors(4096)}
        if row["task"] == "either-or":
            offered = re.search(r" (?:a )?(\w+) or (?:a )?(\w+)\?", problem).groups()
            assert answer in offered
        checked.add(row["task"])
    assert {"perceive-where", "bind-where", "perceive-colour", "either-or"} <= checked


@pytest.mark.parametrize("name", ["synth-detect", "synth-ground", "synth-perception"])
def test_every_shape_sits_inside_one_visual_token(name):
    """One shape per 28 px cell (one merged Qwen2-VL token): boxes never cross a cell border."""
    for row in load(name, limit=200):
        if not answer_of(row).startswith("[{"):
            continue
        for box in ast.literal_eval(answer_of(row)):
            x1, y1, x2, y2 = box["Position"]
            assert x1 // 28 == x2 // 28 and y1 // 28 == y2 // 28, box
