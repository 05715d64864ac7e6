"""A two-domain toy testbed for trainer tests: colour and shape questions about one drawn image.

It registers as a temporary plugin (dataset sources and verifiers), so trainer tests do not
depend on the synthetic testbed or the verifier plugins.
"""

from __future__ import annotations

import random
import re

from PIL import Image, ImageDraw

from modomodo import DatasetSource, Verifier, hookimpl

COLOURS = {"A": "red", "B": "green", "C": "blue", "D": "yellow"}
SHAPES = {"A": "square", "B": "circle"}
ANSWER = re.compile(r"^<think>.*?</think><answer>(.*?)</answer>$", re.DOTALL)


def _row(rng: random.Random, domain: str) -> dict:
    colour = rng.choice(list(COLOURS))
    shape = rng.choice(list(SHAPES))
    image = Image.new("RGB", (56, 56), "white")
    draw = ImageDraw.Draw(image)
    box = (12, 12, 44, 44)
    (draw.rectangle if SHAPES[shape] == "square" else draw.ellipse)(box, fill=COLOURS[colour])
    if domain == "colour":
        options = " ".join(f"{k}. {v}" for k, v in COLOURS.items())
        problem, letter, why = f"What colour is the shape? {options}", colour, COLOURS[colour]
    else:
        options = " ".join(f"{k}. {v}" for k, v in SHAPES.items())
        problem, letter, why = f"Which shape is drawn? {options}", shape, SHAPES[shape]
    return {
        "image": image,
        "problem": problem + " Answer in <think> </think> then <answer> </answer>.",
        "solution": f"<answer>{letter}</answer>",
        "reference": f"<think>it is {why}</think><answer>{letter}</answer>",
    }


def _source(domain: str, sizes: dict[str, int]) -> DatasetSource:
    def load(request):
        rng = random.Random(f"{domain}-{request.split}-{request.seed}")
        count = min(sizes[request.split], request.limit or sizes[request.split])
        return [_row(rng, domain) for _ in range(count)]

    return DatasetSource(name=f"toy-{domain}", load=load, splits=tuple(sizes), description="toy")


def _format(completion, row):
    return 1.0 if ANSWER.match(completion.strip()) else 0.0


def _exact(completion, row):
    match = ANSWER.match(completion.strip())
    expected = re.search(r"<answer>(.*?)</answer>", row["solution"]).group(1)
    return 1.0 if match and match.group(1).strip() == expected else 0.0


class ToyPlugin:
    def __init__(self, sizes=None):
        self.sizes = sizes or {"train": 40, "test": 16, "warmup": 64}

    @hookimpl
    def register_datasets(self, register):
        register(_source("colour", self.sizes))
        register(_source("shape", dict(self.sizes, train=self.sizes["train"] // 4)))

    @hookimpl
    def register_verifiers(self, register):
        register(Verifier(name="toy-format", score=_format, kind="format"))
        register(Verifier(name="toy-exact", score=_exact, kind="accuracy"))
