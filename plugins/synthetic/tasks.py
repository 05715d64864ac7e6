"""The testbed's questions: one function per task, each drawing an image and its answer.

A task function takes ``(rng, size)`` and returns an :class:`Example`. Tasks are grouped
into levels (1 easy, 3 hard) per source in ``SOURCES``; docs/testbed.md has the table of
which skill and which answer form each task teaches or needs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from functools import partial

import attrs
from PIL import Image

from modomodo_plugins.paper_datasets.prompts import LETTERS, box_question, multiple_choice
from modomodo_plugins.paper_datasets.prompts import short_answer as short_prompt

from .scenes import (
    COLOURS,
    GRID,
    INK,
    SHAPES,
    Item,
    canvas,
    draw_arrow,
    draw_item,
    draw_polygon,
    draw_scene,
    grid,
    max_side,
    place_boxes,
    place_in_cells,
    random_sides,
)

RELATIONS = {"left of": 0, "right of": 0, "above": 1, "below": 1}  # relation -> the axis it compares


@attrs.frozen
class Example:
    """One drawn question: ``answer`` is what goes inside ``<answer>``; ``think`` is a short reasoning."""

    image: Image.Image
    problem: str
    answer: str
    think: str
    task: str


def short_answer(task: str, image, question: str, answer: str, think: str) -> Example:
    return Example(image, short_prompt(question), answer, think, task)


def choice(task: str, rng: random.Random, image, question: str, correct: str, others: list[str], think: str,
           count: int = 4) -> Example:
    """A multiple-choice question in the paper's Figure 2 layout; the answer is the correct option's letter."""
    options = [correct, *rng.sample(others, min(count - 1, len(others)))]
    rng.shuffle(options)
    return Example(image, multiple_choice(question, options), LETTERS[options.index(correct)], think, task)


def boxes(task: str, image, instruction: str, targets: list[Item], think: str) -> Example:
    """A box question in the paper's Figure 8 layout; boxes listed left to right."""
    ordered = sorted(targets, key=lambda item: (item.box[0], item.box[1]))
    answer = "[" + ", ".join(f"{{'Position': {list(item.box)}, 'Confidence': 1}}" for item in ordered) + "]"
    return Example(image, box_question(instruction), answer, think, task)


# ----------------------------------------------------------------------------------------------------------
# Scenes


def scene(rng: random.Random, size: int, kinds: list[tuple[str, str]], sides: list[int] | None = None) -> list[Item]:
    """Items of the given (shape, colour) kinds at random non-overlapping places."""
    sides = sides or random_sides(rng, size, len(kinds))
    return [Item(shape, colour, box) for (shape, colour), box in zip(kinds, place_boxes(rng, size, sides))]


def random_kinds(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """``count`` (shape, colour) pairs drawn independently (repeats allowed)."""
    return [(rng.choice(SHAPES), rng.choice(list(COLOURS))) for _ in range(count)]


def distinct_kinds(rng: random.Random, count: int, exclude: set[tuple[str, str]] = frozenset()) -> list[tuple[str, str]]:
    """``count`` different (shape, colour) pairs, none of them in ``exclude``."""
    pool = [(s, c) for s in SHAPES for c in COLOURS if (s, c) not in exclude]
    return rng.sample(pool, count)


def distinct_sides(rng: random.Random, size: int, count: int, ratio: float = 1.3, cap: int | None = None) -> list[int]:
    """Sides that differ pairwise by at least ``ratio``, so 'largest' and 'smallest' are plain to see.

    At most ``cap`` (default: the largest shape a grid cell holds).
    """
    cap = cap or max_side(size)
    top = rng.randint(math.ceil(cap * 0.8), cap)
    sides = [max(5, int(top / ratio**k)) for k in range(count)]
    rng.shuffle(sides)
    return sides


def in_lines(rng: random.Random, size: int, kinds: list[tuple[str, str]], lines: list[int], axis: int,
             sides: list[int] | None = None) -> list[Item]:
    """Items on the given grid lines along ``axis`` (columns for 0, rows for 1), each in its own cell.

    Shapes on different lines are in a plain relation (left of, above); shapes on one line never are.
    """
    cells, _ = grid(size)
    free = {line: rng.sample(range(cells), cells) for line in set(lines)}
    placed = []
    for line in lines:
        if not free[line]:
            raise ValueError(f"more than {cells} shapes on grid line {line}")
        across = free[line].pop()
        placed.append((line, across) if axis == 0 else (across, line))
    sides = sides or random_sides(rng, size, len(kinds))
    return [Item(shape, colour, box) for (shape, colour), box in zip(kinds, place_in_cells(rng, size, sides, placed))]


def along_axis(rng: random.Random, size: int, kinds: list[tuple[str, str]], axis: int,
               sides: list[int] | None = None) -> list[Item]:
    """Items in the order of ``kinds`` along ``axis`` (0: x, 1: y), each on a grid line of its own."""
    cells, _ = grid(size)
    if len(kinds) > cells:
        raise ValueError(f"{len(kinds)} shapes cannot each have a grid line of their own on {cells} lines")
    return in_lines(rng, size, kinds, sorted(rng.sample(range(cells), len(kinds))), axis, sides)


def kind_phrase(colour: str | None, shape: str | None) -> str:
    """'red circle', 'red shape' or 'circle'."""
    return " ".join(w for w in (colour, shape or "shape") if w)


def plural(count: int, colour: str | None, shape: str | None) -> str:
    return f"{count} {kind_phrase(colour, shape)}" + ("" if count == 1 else "s")


def relation_between(a: Item, b: Item, axis: int) -> str:
    """'left of' / 'right of' (axis 0) or 'above' / 'below' (axis 1): where ``a`` is relative to ``b``."""
    before = a.centre[axis] < b.centre[axis]
    return ("left of" if before else "right of") if axis == 0 else ("above" if before else "below")


# ----------------------------------------------------------------------------------------------------------
# synth-detect: every box of a named kind (COCO analogue, iou-coco)


def detect_kind(rng, size, level: int) -> Example:
    colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
    n_targets = {1: 1, 2: rng.randint(1, 2), 3: 2}[level]  # at most two boxes: a completion fits ~48 tokens
    if level == 3 and rng.random() < 0.5:
        # Colour-only or shape-only queries: targets of mixed kinds.
        by_colour = rng.random() < 0.5
        if by_colour:
            targets = [(rng.choice(SHAPES), colour) for _ in range(n_targets)]
            pool = [(s, c) for s in SHAPES for c in COLOURS if c != colour]
            label = (colour, None)
        else:
            targets = [(shape, rng.choice(list(COLOURS))) for _ in range(n_targets)]
            pool = [(s, c) for s in SHAPES for c in COLOURS if s != shape]
            label = (None, shape)
        distractors = [rng.choice(pool) for _ in range(rng.randint(2, 3))]
    else:
        targets = [(shape, colour)] * n_targets
        if level == 1:
            pool = [(s, c) for s in SHAPES for c in COLOURS if s != shape and c != colour]
        else:  # distractors share the colour or the shape, never both
            pool = [(s, c) for s in SHAPES for c in COLOURS if (s == shape) != (c == colour)]
        distractors = [rng.choice(pool) for _ in range(rng.randint(1, 2) if level == 1 else rng.randint(2, 3))]
        label = (colour, shape)
    items = scene(rng, size, targets + distractors)
    wanted = items[: len(targets)]
    return boxes("detect", draw_scene(size, items), f"every {kind_phrase(*label)}.", wanted,
                 plural(len(wanted), *label) + ".")


# ----------------------------------------------------------------------------------------------------------
# synth-ground: one box from a referring expression (LISA analogue, iou-mean)


def ground_attribute(rng, size) -> Example:
    kinds = distinct_kinds(rng, rng.randint(3, 4))
    items = scene(rng, size, kinds)
    target = items[0]
    return boxes("ground-attribute", draw_scene(size, items), f"the {target.name()}.", [target], f"{target.name()}.")


def ground_relation(rng, size) -> Example:
    """Two shapes of one kind on either side of an anchor: only the relation tells them apart."""
    axis = rng.randint(0, 1)
    shape, anchor_shape = rng.sample(SHAPES, 2)
    colours = rng.sample(list(COLOURS), 3)
    kinds = [(shape, colours[0]), (anchor_shape, colours[1]), (shape, colours[2])]
    items = along_axis(rng, size, kinds, axis)
    target = items[0] if rng.random() < 0.5 else items[2]
    relation = relation_between(target, items[1], axis)
    instruction = f"the {shape} {relation} the {anchor_shape}."
    return boxes("ground-relation", draw_scene(size, items), instruction, [target], f"{shape} {relation} {anchor_shape}.")


def ground_size(rng, size) -> Example:
    """Shapes of one kind in clearly different sizes: 'the largest/smallest triangle'."""
    shape = rng.choice(SHAPES)
    count = rng.randint(2, 3)
    kinds = [(shape, c) for c in rng.sample(list(COLOURS), count)]
    distractor = (rng.choice([s for s in SHAPES if s != shape]), rng.choice(list(COLOURS)))
    sides = distinct_sides(rng, size, count) + random_sides(rng, size, 1)
    items = scene(rng, size, kinds + [distractor], sides)
    extreme = rng.choice(["largest", "smallest"])
    pick = max if extreme == "largest" else min
    target = pick(items[:count], key=lambda item: item.side)
    return boxes("ground-size", draw_scene(size, items), f"the {extreme} {shape}.", [target], f"{extreme} {shape}.")


# ----------------------------------------------------------------------------------------------------------
# synth-geometry: a figure, multiple choice (GeoQAV analogue, choice)


def geometry_sides(rng, size) -> Example:
    sides = rng.randint(3, 6)
    image, draw = canvas(size)
    centre = (size / 2 + rng.uniform(-size / 10, size / 10), size / 2 + rng.uniform(-size / 10, size / 10))
    draw_polygon(draw, centre, size * rng.uniform(0.28, 0.38), sides, rng.uniform(0, 2 * math.pi),
                 rng.choice(list(COLOURS)))
    others = [str(n) for n in range(3, 7) if n != sides]
    return choice("geometry-sides", rng, image, "How many sides does the shape have?", str(sides), others,
                  f"{sides} sides.")


def _horizontal_lines(rng, size, lengths: list[int], colours: list[str]) -> Image.Image:
    image, draw = canvas(size)
    rows = rng.sample(range(len(lengths) + 1), len(lengths))
    pitch = size / (len(lengths) + 1.5)
    for row, length, colour in zip(rows, lengths, colours):
        y = int(pitch * (row + 0.75))
        x = rng.randint(2, max(2, size - length - 3))
        draw.line([(x, y), (x + length, y)], fill=COLOURS[colour], width=4)
    return image


def geometry_longest(rng, size) -> Example:
    count = 3
    colours = rng.sample(list(COLOURS), count)
    lengths = distinct_sides(rng, size, count, ratio=1.25, cap=size - 6)
    image = _horizontal_lines(rng, size, lengths, colours)
    longest = colours[lengths.index(max(lengths))]
    others = [c for c in COLOURS if c != longest]
    return choice("geometry-longest", rng, image, "Which line is the longest?", longest, others,
                  f"{longest} is longest.")


def geometry_ratio(rng, size) -> Example:
    """A unit line and another line k units long: reading a length against a reference (as bar charts need)."""
    unit = rng.randint(max(5, size // 9), max(6, size // 5 - 1))
    units = rng.randint(1, 4)
    colour = rng.choice([c for c in COLOURS if c != "red"])
    image = _horizontal_lines(rng, size, [unit, unit * units], ["red", colour])
    others = [str(n) for n in range(1, 5) if n != units]
    question = f"The red line is 1 unit long. How long is the {colour} line?"
    return choice("geometry-ratio", rng, image, question, str(units), others, f"{colour} is {units} units.")


# ----------------------------------------------------------------------------------------------------------
# synth-spatial: relations, short natural-language answers (SAT analogue, exact)


def spatial_yes_no(rng, size) -> Example:
    axis = rng.randint(0, 1)
    kinds = distinct_kinds(rng, rng.randint(2, 3))
    items = along_axis(rng, size, kinds, axis)
    a, b = rng.sample(items, 2)
    actual = relation_between(a, b, axis)
    asked = actual if rng.random() < 0.5 else next(r for r in RELATIONS if RELATIONS[r] == axis and r != actual)
    question = f"Is the {a.name()} {asked} the {b.name()}? Answer yes or no."
    answer = "yes" if asked == actual else "no"
    return short_answer("spatial-yes-no", draw_scene(size, items), question, answer, f"{a.shape} is {actual} it.")


def spatial_colour(rng, size) -> Example:
    """The referring skill of synth-ground, answered with a colour word."""
    axis = rng.randint(0, 1)
    shape, anchor_shape = rng.sample(SHAPES, 2)
    colours = rng.sample(list(COLOURS), 3)
    items = along_axis(rng, size, [(shape, colours[0]), (anchor_shape, colours[1]), (shape, colours[2])], axis)
    target = items[0] if rng.random() < 0.5 else items[2]
    relation = relation_between(target, items[1], axis)
    question = f"What colour is the {shape} {relation} the {anchor_shape}?"
    return short_answer("spatial-colour", draw_scene(size, items), question, target.colour,
                        f"{shape} {relation} is {target.colour}.")


def relation_count_scene(rng, size, colour: str | None = None) -> tuple[Image.Image, str, int]:
    """Shapes around an anchor and the question 'how many (``colour``) shapes are <relation> it';
    returns (image, question, count).

    The anchor has a grid line to itself; the others sit on the other lines, several to a line. With
    ``colour``, about half the others have that colour and only those count.
    """
    axis = rng.randint(0, 1)
    cells, _ = grid(size)
    anchor_shape = rng.choice(SHAPES)
    anchor_line = rng.randrange(cells)
    count_others = rng.randint(2, 4) if colour is None else rng.randint(3, 5)
    others = [(rng.choice([s for s in SHAPES if s != anchor_shape]),
               colour if colour is not None and rng.random() < 0.5 else rng.choice(list(COLOURS)))
              for _ in range(count_others)]
    slots = [line for line in range(cells) if line != anchor_line for _ in range(cells)]
    lines = [anchor_line, *rng.sample(slots, len(others))]
    items = in_lines(rng, size, [(anchor_shape, rng.choice(list(COLOURS))), *others], lines, axis)
    anchor = items[0]
    relation = rng.choice([r for r in RELATIONS if RELATIONS[r] == axis])
    count = sum(1 for item in items[1:]
                if relation_between(item, anchor, axis) == relation and colour in (None, item.colour))
    question = f"How many {kind_phrase(colour, None)}s are {relation} the {anchor_shape}?"
    return draw_scene(size, items), question, count


def spatial_count(rng, size) -> Example:
    """Counting on one side of an anchor, answered with a number."""
    image, question, count = relation_count_scene(rng, size)
    return short_answer("spatial-count", image, question, str(count), f"{plural(count, None, None)}.")


def spatial_bigger(rng, size) -> Example:
    first, second = rng.sample(SHAPES, 2)
    kinds = [(first, rng.choice(list(COLOURS))), (second, rng.choice(list(COLOURS)))]
    items = scene(rng, size, kinds, distinct_sides(rng, size, 2, ratio=1.35))
    bigger = max(items, key=lambda item: item.side).shape
    question = f"Which is bigger, the {first} or the {second}?"
    return short_answer("spatial-bigger", draw_scene(size, items), question, bigger, f"{bigger} is bigger.")


# ----------------------------------------------------------------------------------------------------------
# synth-science: a small diagram to reason over, multiple choice (ScienceQA analogue, choice)


def science_balance(rng, size) -> Example:
    left, right = rng.sample(range(1, 5), 2)
    image, draw = canvas(size)
    pivot = (size / 2 + rng.uniform(-size / 12, size / 12), size * rng.uniform(0.68, 0.76))
    draw.polygon([pivot, (pivot[0] - size / 10, size * 0.9), (pivot[0] + size / 10, size * 0.9)], fill=INK)
    tilt = math.radians(rng.uniform(9, 16)) * (1 if left > right else -1)
    half = size * rng.uniform(0.32, 0.37)
    ends = [(pivot[0] - half * math.cos(tilt), pivot[1] + half * math.sin(tilt)),
            (pivot[0] + half * math.cos(tilt), pivot[1] - half * math.sin(tilt))]
    draw.line([ends[0], ends[1]], fill=INK, width=3)
    block = max(4, size // 14)
    colour = COLOURS[rng.choice(list(COLOURS))]
    for (x, y), count in zip(ends, (left, right)):
        for k in range(count):
            top = y - 2 - (k + 1) * (block + 1)
            draw.rectangle([x - block / 2, top, x + block / 2, top + block], fill=colour)
    heavier = "left" if left > right else "right"
    lighter = "right" if heavier == "left" else "left"
    return choice("science-balance", rng, image, "Which side of the balance is heavier?", heavier, [lighter],
                  f"{heavier} side is lower.", count=2)


def science_food_chain(rng, size) -> Example:
    """Three animals as shapes, arrows from food to eater: what eats X / what does X eat."""
    chain = rng.sample(SHAPES, 3)
    colours = rng.sample(list(COLOURS), 3)
    axis = rng.randint(0, 1)
    step = size / 3
    image, draw = canvas(size)
    side = max(8, int(size / 6))
    items = []
    for k, (shape, colour) in enumerate(zip(chain, colours)):
        centre_along = step * (k + 0.5)
        across = size / 2 + rng.uniform(-size / 8, size / 8)
        cx, cy = (centre_along, across) if axis == 0 else (across, centre_along)
        box = (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
        items.append(Item(shape, colour, box))
    if rng.random() < 0.5:  # chains run either way along the axis
        items.reverse()
        chain.reverse()
    for item in items:
        draw_item(draw, item)
    for food, eater in zip(items, items[1:]):
        start, end = _towards(food, eater, side)
        draw_arrow(draw, start, end)
    k = rng.randint(0, 1)
    if rng.random() < 0.5:
        question, correct, think = f"What eats the {chain[k]}?", chain[k + 1], f"{chain[k + 1]} eats {chain[k]}."
    else:
        question, correct, think = f"What does the {chain[k + 1]} eat?", chain[k], f"{chain[k + 1]} eats {chain[k]}."
    others = [s for s in chain if s != correct] + ["nothing"]
    question = f"Arrows point from food to eater. {question}"
    return choice("science-food-chain", rng, image, question, correct, others, think)


def _towards(a: Item, b: Item, side: int) -> tuple[tuple[float, float], tuple[float, float]]:
    (ax, ay), (bx, by) = a.centre, b.centre
    length = math.hypot(bx - ax, by - ay)
    ux, uy = (bx - ax) / length, (by - ay) / length
    gap = side * 0.6 + 1
    return (ax + ux * gap, ay + uy * gap), (bx - ux * gap, by - uy * gap)


def science_thermometers(rng, size) -> Example:
    """Three thermometers with different levels: comparing heights, answered with a position."""
    image, draw = canvas(size)
    levels = [level + rng.uniform(-0.3, 0.3) for level in rng.sample(range(2, 10), 3)]
    width = max(5, size // 10)
    top, bottom = size * 0.12, size * 0.88
    names = ["left", "middle", "right"]
    for k, level in enumerate(levels):
        x = size * (k + 0.5) / 3 + rng.uniform(-2, 2)
        draw.rectangle([x - width / 2, top, x + width / 2, bottom], outline=INK)
        fill_top = bottom - (bottom - top) * level / 10
        draw.rectangle([x - width / 2 + 1, fill_top, x + width / 2 - 1, bottom - 1], fill=COLOURS["red"])
    extreme = rng.choice(["highest", "lowest"])
    pick = max if extreme == "highest" else min
    correct = names[levels.index(pick(levels))]
    question = f"Which thermometer shows the {extreme} temperature?"
    return choice("science-thermometers", rng, image, question, correct, [n for n in names if n != correct],
                  f"{correct} is {extreme}.", count=3)


# ----------------------------------------------------------------------------------------------------------
# synth-chart: read a bar chart (ChartQA analogue, exact)


def _bar_chart(rng, size, heights: list[int], colours: list[str]) -> Image.Image:
    """Bars on a grid of 5 units; the frame jitters a little so that no two charts are the same picture."""
    image, draw = canvas(size)
    base, top = size * rng.uniform(0.9, 0.94), size * rng.uniform(0.06, 0.1)
    unit = (base - top) / 5
    for level in range(1, 6):
        y = base - unit * level
        draw.line([(2, y), (size - 3, y)], fill=GRID, width=1)
    slot = (size - 6) / len(heights)
    width = rng.uniform(0.5, 0.7)
    for k, (height, colour) in enumerate(zip(heights, colours)):
        x1 = 4 + slot * k + slot * (1 - width) / 2
        draw.rectangle([x1, base - unit * height, x1 + slot * width, base], fill=COLOURS[colour])
    draw.line([(2, base), (size - 3, base)], fill=INK, width=1)
    return image


def chart_extreme(rng, size) -> Example:
    count = rng.randint(3, 4)
    colours = rng.sample(list(COLOURS), count)
    heights = rng.sample(range(1, 6), count)
    extreme = rng.choice(["tallest", "shortest"])
    pick = max if extreme == "tallest" else min
    answer = colours[heights.index(pick(heights))]
    question = f"Which bar is the {extreme}? Answer with its colour."
    return short_answer("chart-extreme", _bar_chart(rng, size, heights, colours), question, answer,
                        f"{answer} is {extreme}.")


def chart_value(rng, size) -> Example:
    count = rng.randint(2, 4)
    colours = rng.sample(list(COLOURS), count)
    heights = [rng.randint(1, 5) for _ in colours]
    k = rng.randrange(count)
    question = f"What is the value of the {colours[k]} bar?"
    return short_answer("chart-value", _bar_chart(rng, size, heights, colours), question, str(heights[k]),
                        f"{colours[k]} bar is {heights[k]}.")


def chart_count(rng, size) -> Example:
    count = rng.randint(3, 4)
    colours = rng.sample(list(COLOURS), count)
    heights = [rng.randint(1, 5) for _ in colours]
    threshold = rng.randint(1, 4)
    above = sum(1 for h in heights if h > threshold)
    question = f"How many bars are taller than {threshold}?"
    return short_answer("chart-count", _bar_chart(rng, size, heights, colours), question, str(above),
                        f"{plural(above, None, 'bar')} above {threshold}.")


# ----------------------------------------------------------------------------------------------------------
# synth-count: count objects (a counting benchmark, exact)


def how_many_shapes(rng, size, task: str, question: str, most: int) -> Example:
    """1 to ``most`` shapes of random kinds; the answer is how many."""
    n = rng.randint(1, most)
    items = scene(rng, size, random_kinds(rng, n))
    return short_answer(task, draw_scene(size, items), question, str(n), f"{plural(n, None, None)}.")


def count_all(rng, size) -> Example:
    return how_many_shapes(rng, size, "count-all", "How many shapes are there?", most=4)


def count_kind(rng, size, by_shape: bool) -> Example:
    colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
    n = rng.randint(1, 4)
    if by_shape:  # colour and shape: distractors share one of them
        targets = [(shape, colour)] * n
        pool = [(s, c) for s in SHAPES for c in COLOURS if (s == shape) != (c == colour)]
        label = (colour, shape)
    else:
        targets = [(rng.choice(SHAPES), colour) for _ in range(n)]
        pool = [(s, c) for s in SHAPES for c in COLOURS if c != colour]
        label = (colour, None)
    distractors = [rng.choice(pool) for _ in range(rng.randint(1, 6 - n))]
    items = scene(rng, size, targets + distractors)
    noun = f"{colour} {shape}s" if by_shape else f"{colour} shapes"
    task = "count-colour-shape" if by_shape else "count-colour"
    return short_answer(task, draw_scene(size, items), f"How many {noun} are there?", str(n),
                        f"{plural(n, *label)}.")


# ----------------------------------------------------------------------------------------------------------
# synth-compose: two skills in one question, multiple choice


def compose_largest_colour(rng, size) -> Example:
    count = 3
    kinds = distinct_kinds(rng, count)
    items = scene(rng, size, kinds, distinct_sides(rng, size, count))
    largest = max(items, key=lambda item: item.side).colour
    return choice("compose-largest-colour", rng, draw_scene(size, items), "What colour is the largest shape?",
                  largest, [c for c in COLOURS if c != largest], f"largest is {largest}.")


def compose_relation_count(rng, size) -> Example:
    """Relation (ground, spatial) + counting by colour (detect, count), answered with a letter (geometry,
    science). Spatial asks how many shapes of any colour lie on a side, with a bare number."""
    colour = rng.choice(list(COLOURS))
    image, question, count = relation_count_scene(rng, size, colour)
    others = [str(n) for n in range(0, 5) if n != count]
    return choice("compose-relation-count", rng, image, question, str(count), others,
                  f"{plural(count, colour, None)}.")


def compose_relation_size(rng, size) -> Example:
    """The largest shape on one side of an anchor; a larger one sits on the other side as a trap."""
    axis = rng.randint(0, 1)
    cells, _ = grid(size)
    anchor_shape = rng.choice(SHAPES)
    relation = rng.choice([r for r in RELATIONS if RELATIONS[r] == axis])
    colours = rng.sample(list(COLOURS), 3)
    others = [s for s in SHAPES if s != anchor_shape]
    anchor_line = rng.randint(1, cells - 2)
    before, after = list(range(anchor_line)), list(range(anchor_line + 1, cells))
    asked, other = (before, after) if relation in ("left of", "above") else (after, before)
    small, large = sorted(distinct_sides(rng, size, 2))
    kinds = [(rng.choice(others), colours[0]), (rng.choice(others), colours[1]),
             (rng.choice(others), colours[2]), (anchor_shape, rng.choice(list(COLOURS)))]
    sides = [small, large, max_side(size), random_sides(rng, size, 1)[0]]
    lines = [rng.choice(asked), rng.choice(asked), rng.choice(other), anchor_line]
    items = in_lines(rng, size, kinds, lines, axis, sides)
    answer = items[1].colour
    question = f"What colour is the largest shape {relation} the {anchor_shape}?"
    return choice("compose-relation-size", rng, draw_scene(size, items), question, answer,
                  [c for c in COLOURS if c != answer], f"largest {relation} is {answer}.")


# ----------------------------------------------------------------------------------------------------------
# synth-perception: the embedded base's pretraining (what a real VLM knows before any RL): naming what is
# where, in many answer forms, never a training domain's or a benchmark's question


def lone_shape(rng, size) -> Item:
    """One shape of a random kind in a random cell."""
    return scene(rng, size, random_kinds(rng, 1))[0]


def perceive_colour(rng, size) -> Example:
    """The colour of the only shape: answers are uniform over colours, so the question text gives nothing."""
    item = lone_shape(rng, size)
    return short_answer("perceive-colour", draw_scene(size, [item]), "What colour is the shape?", item.colour,
                        f"it is {item.colour}.")


def perceive_shape(rng, size) -> Example:
    item = lone_shape(rng, size)
    return short_answer("perceive-shape", draw_scene(size, [item]), "What shape is it?", item.shape,
                        f"it is a {item.shape}.")


def perceive_count(rng, size) -> Example:
    return how_many_shapes(rng, size, "perceive-count", "How many shapes do you see?", most=5)


LINE_WORDS = ({0: "left", 1: "middle", 2: "right"}, {0: "top", 1: "middle", 2: "bottom"})


def where(item: Item, size: int, axis: int) -> str:
    """'left', 'middle' or 'right' (axis 0), 'top', 'middle' or 'bottom' (axis 1): the item's third of the picture."""
    return LINE_WORDS[axis][min(2, int(item.centre[axis] * 3 / size))]


def perceive_where(rng, size) -> Example:
    """Where the only shape is: its column or its row, as a word."""
    item = lone_shape(rng, size)
    axis = rng.randint(0, 1)
    words = ", ".join(LINE_WORDS[axis].values())
    answer = where(item, size, axis)
    return short_answer("perceive-where", draw_scene(size, [item]), f"Where is the shape? Answer {words}.",
                        answer, f"it is {answer}.")


def named_scene(rng, size, count: int) -> list[Item]:
    """Shapes of pairwise different shapes and colours, so 'the circle' and 'the red one' each name one."""
    shapes, colours = rng.sample(SHAPES, count), rng.sample(list(COLOURS), count)
    return scene(rng, size, list(zip(shapes, colours)))


def bind_colour(rng, size) -> Example:
    """Colour of the named shape among others: a word bound to one region of the picture."""
    items = named_scene(rng, size, rng.randint(2, 3))
    target = rng.choice(items)
    return short_answer("bind-colour", draw_scene(size, items), f"What colour is the {target.shape}?",
                        target.colour, f"the {target.shape} is {target.colour}.")


def bind_shape(rng, size) -> Example:
    items = named_scene(rng, size, rng.randint(2, 3))
    target = rng.choice(items)
    return short_answer("bind-shape", draw_scene(size, items), f"What shape is the {target.colour} one?",
                        target.shape, f"the {target.colour} one is a {target.shape}.")


def bind_where(rng, size) -> Example:
    items = named_scene(rng, size, rng.randint(2, 3))
    target = rng.choice(items)
    axis = rng.randint(0, 1)
    words = ", ".join(LINE_WORDS[axis].values())
    answer = where(target, size, axis)
    return short_answer("bind-where", draw_scene(size, items), f"Where is the {target.name()}? Answer {words}.",
                        answer, f"{target.name()} is {answer}.")


def is_there(rng, size) -> Example:
    """Yes or no: is a shape of this kind in the picture (half the time it is)."""
    items = scene(rng, size, random_kinds(rng, rng.randint(1, 4)))
    present = {(item.shape, item.colour) for item in items}
    if rng.random() < 0.5:
        shape, colour = rng.choice(sorted(present))
    else:
        shape, colour = rng.choice([(s, c) for s in SHAPES for c in COLOURS if (s, c) not in present])
    answer = "yes" if (shape, colour) in present else "no"
    return short_answer("is-there", draw_scene(size, items), f"Is there a {colour} {shape}? Answer yes or no.",
                        answer, f"{'a' if answer == 'yes' else 'no'} {colour} {shape}.")


def either_or(rng, size) -> Example:
    """'Is the circle red or blue?': the answer is one of the two words the question offers."""
    items = named_scene(rng, size, rng.randint(1, 3))
    target = rng.choice(items)
    if rng.random() < 0.5:
        pair = [target.colour, rng.choice([c for c in COLOURS if c != target.colour])]
        rng.shuffle(pair)
        question, answer = f"Is the {target.shape} {pair[0]} or {pair[1]}?", target.colour
    else:
        pair = [target.shape, rng.choice([s for s in SHAPES if s != target.shape])]
        rng.shuffle(pair)
        question, answer = f"Is the {target.colour} shape a {pair[0]} or a {pair[1]}?", target.shape
    return short_answer("either-or", draw_scene(size, items), question, answer, f"it is {answer}.")


def box_of_shape(rng, size) -> Example:
    """The box of the only shape: localising without a referring expression."""
    item = lone_shape(rng, size)
    return boxes("box-of-shape", draw_scene(size, [item]), "the shape.", [item], f"{item.name()}.")


TaskFunction = Callable[[random.Random, int], Example]

# Levels per source: a row draws a level uniformly, then one of that level's tasks uniformly.
SOURCES: dict[str, dict[int, list[TaskFunction]]] = {
    "synth-detect": {level: [partial(detect_kind, level=level)] for level in (1, 2, 3)},
    "synth-ground": {1: [ground_attribute], 2: [ground_relation], 3: [ground_size]},
    "synth-geometry": {1: [geometry_sides], 2: [geometry_longest], 3: [geometry_ratio]},
    "synth-spatial": {1: [spatial_yes_no], 2: [spatial_colour], 3: [spatial_count, spatial_bigger]},
    "synth-science": {1: [science_balance], 2: [science_thermometers], 3: [science_food_chain]},
    "synth-chart": {1: [chart_extreme], 2: [chart_value], 3: [chart_count]},
    "synth-count": {1: [count_all], 2: [partial(count_kind, by_shape=False)], 3: [partial(count_kind, by_shape=True)]},
    "synth-compose": {1: [compose_largest_colour], 2: [compose_relation_count], 3: [compose_relation_size]},
    "synth-perception": {
        1: [perceive_colour, perceive_shape, perceive_count],
        2: [bind_colour, bind_shape, is_there, either_or],
        3: [perceive_where, bind_where, box_of_shape],
    },
}
