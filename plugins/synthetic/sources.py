"""The testbed's dataset sources: rows drawn on demand, a pure function of (source, split, seed, index).

Splits ``train``, ``test`` and ``warmup`` draw from separate random streams, so they never
share a row by construction. ``warmup`` rows also carry ``reference``: a full target
completion for supervised training of a base model (``modomodo build-base``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from modomodo import DatasetError, DatasetSource, LoadRequest, Row
from modomodo.answers import completion

from .tasks import SOURCES

SPLITS = ("train", "test", "warmup")
DEFAULT_ROWS = {"train": 2000, "test": 500, "warmup": 1000}
DEFAULT_IMAGE_SIZE = 84  # 3 x 28 px: Qwen2-VL's merged patch grid, no resize distortion
IMAGE_SIZES = range(48, 449)
OPTIONS = ("size", "image_size", "levels")


def build_row(source: str, split: str, seed: int, index: int, image_size: int, levels: tuple[int, ...]) -> Row:
    """One row: a level drawn uniformly from ``levels``, then one of that level's tasks."""
    rng = random.Random(f"{source}/{split}/{seed}/{index}")
    level = rng.choice(levels)
    example = rng.choice(SOURCES[source][level])(rng, image_size)
    row: Row = {
        "image": example.image,
        "problem": example.problem,
        "solution": f"<answer>{example.answer}</answer>",
        "task": example.task,
        "level": level,
    }
    if split == "warmup":
        row["reference"] = completion(example.think, example.answer)
    return row


def _options(name: str, options: Mapping[str, Any]) -> tuple[int | None, int, tuple[int, ...]]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise DatasetError(f"{name}: unknown option(s) {', '.join(unknown)}; expected {', '.join(OPTIONS)}")
    size = options.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise DatasetError(f"{name}: options.size: expected a whole number of rows >= 1, got {size!r}")
    image_size = options.get("image_size", DEFAULT_IMAGE_SIZE)
    if not isinstance(image_size, int) or image_size not in IMAGE_SIZES:
        raise DatasetError(
            f"{name}: options.image_size: expected pixels between {IMAGE_SIZES[0]} and {IMAGE_SIZES[-1]}, "
            f"got {image_size!r}"
        )
    known_levels = sorted(SOURCES[name])
    levels = options.get("levels", known_levels)
    if not isinstance(levels, list) or not levels or any(level not in known_levels for level in levels):
        raise DatasetError(f"{name}: options.levels: expected a non-empty list drawn from {known_levels}, got {levels!r}")
    return size, image_size, tuple(levels)


def make_source(name: str, description: str) -> DatasetSource:
    def load(request: LoadRequest) -> list[Row]:
        if request.split not in SPLITS:
            raise DatasetError(f"{name}: no split {request.split!r}; expected one of {', '.join(SPLITS)}")
        size, image_size, levels = _options(name, request.options)
        count = min(n for n in (request.limit, size or DEFAULT_ROWS[request.split]) if n is not None)
        return [build_row(name, request.split, request.seed, index, image_size, levels) for index in range(count)]

    return DatasetSource(name=name, load=load, splits=SPLITS, description=description)


DESCRIPTIONS = {
    "synth-detect": "every box of a named shape or colour (mirrors COCO; iou-coco)",
    "synth-ground": "one box from a referring expression (mirrors LISA; iou-binary / iou-mean)",
    "synth-geometry": "sides, longest line, lengths in units; multiple choice (mirrors GeoQAV; choice)",
    "synth-spatial": "relations, sizes, counts on one side; short answers (mirrors SAT; exact)",
    "synth-science": "balance, thermometers, food chain; multiple choice (mirrors ScienceQA; choice)",
    "synth-chart": "read a bar chart: tallest colour, a bar's value, bars above a line (mirrors ChartQA; exact)",
    "synth-count": "count shapes of a named kind (counting benchmark; exact)",
    "synth-compose": "two skills in one question; multiple choice (mirrors MathVista / MMMU; choice)",
    "synth-perception": "naming what is where: colour, shape, count, position, a box, yes/no, either-or (the embedded base's pretraining; exact)",
}


def synthetic_sources() -> list[DatasetSource]:
    return [make_source(name, DESCRIPTIONS[name]) for name in SOURCES]
