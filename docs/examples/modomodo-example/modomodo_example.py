"""modomodo-example: an "odd one out" task as a modomodo plugin.

Each image shows four discs in a 2x2 grid, labelled A (top left), B, C, D (bottom right);
three share a colour and one differs. The model answers with the odd disc's letter.
The plugin registers one dataset source, ``odd-one-out``, and one verifier,
``odd-one-out-letter``. It imports nothing from modomodo but the public API.
"""

from __future__ import annotations

import random
import re
from typing import Any

from PIL import Image, ImageDraw

from modomodo import DatasetSource, LoadRequest, Row, Verifier, hookimpl

LETTERS = "ABCD"
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 30),
}
# As the embedded testbed draws (docs/testbed.md): 84 px, the grey that Qwen2-VL's processor maps to zero,
# every disc inside one 28 px cell (one visual token of the embedded model), the four in the corner cells.
IMAGE_SIZE = 84
CELL = 28
BACKGROUND = (123, 117, 104)
PROBLEM = (
    "The image shows four discs in a 2x2 grid: A top left, B top right, C bottom left, D bottom right. "
    "Three discs share a colour. Which disc is the odd one out? "
    "Think in <think></think> and give only the letter in <answer></answer>."
)
ANSWER = re.compile(r"<answer>\s*([A-D])\s*</answer>", re.IGNORECASE)


def draw_row(rng: random.Random) -> Row:
    """One example: an image, its question and the reference answer."""
    common, odd = rng.sample(sorted(COLOURS), 2)
    odd_position = rng.randrange(len(LETTERS))
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for position in range(len(LETTERS)):
        left, top = (position % 2) * 2 * CELL + 4, (position // 2) * 2 * CELL + 4
        colour = COLOURS[odd if position == odd_position else common]
        draw.ellipse((left, top, left + CELL - 8, top + CELL - 8), fill=colour)
    return {"image": image, "problem": PROBLEM, "solution": f"<answer>{LETTERS[odd_position]}</answer>"}


def load(request: LoadRequest) -> list[Row]:
    """``options.size`` rows (default 200), drawn from a generator seeded by split and seed.

    Train and test come from different seeds, so they do not share examples by construction.
    """
    size = int(request.options.get("size", 200))
    count = size if request.limit is None else min(size, request.limit)
    rng = random.Random(f"odd-one-out:{request.split}:{request.seed}")
    return [draw_row(rng) for _ in range(count)]


def score(completion: str, row: dict[str, Any]) -> float:
    """1.0 when the letter in ``<answer>`` matches the reference, else 0.0."""
    given = ANSWER.search(completion)
    expected = ANSWER.search(row["solution"])
    return float(given is not None and expected is not None and given.group(1).upper() == expected.group(1).upper())


@hookimpl
def register_datasets(register):
    register(DatasetSource(
        name="odd-one-out",
        load=load,
        splits=("train", "test"),
        description="Four discs, one of another colour: answer its letter (procedural, no files).",
    ))


@hookimpl
def register_verifiers(register):
    register(Verifier(
        name="odd-one-out-letter",
        score=score,
        kind="accuracy",
        value_range=(0.0, 1.0),
        description="1 if the answered letter is the odd disc, else 0.",
    ))
