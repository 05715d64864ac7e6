"""Drawing primitives of the testbed: coloured shapes on a small canvas, bars, lines, arrows.

Everything is drawn with PIL from an explicit ``random.Random``, so a row is a pure
function of its seed. Boxes are integer pixel coordinates ``[x1, y1, x2, y2]`` of the
stored image, inclusive of the drawn shape's outline.
"""

from __future__ import annotations

import math
import random

import attrs
from PIL import Image, ImageDraw

COLOURS = {
    "red": (214, 39, 40),
    "green": (44, 160, 44),
    "blue": (31, 90, 220),
    "yellow": (235, 190, 20),
}
SHAPES = ("circle", "square", "triangle")
# The image processor's normalisation (CLIP mean) maps this grey to zero: on white, every patch carried a
# large constant that swamped the shapes in the vision tower's features, and the warm start ignored the image.
BACKGROUND = (123, 117, 104)
INK = (60, 60, 60)
GRID = (215, 215, 215)


@attrs.frozen
class Item:
    """One drawn shape and where it is."""

    shape: str
    colour: str
    box: tuple[int, int, int, int]

    @property
    def centre(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2, (y1 + y2) / 2

    @property
    def side(self) -> int:
        return self.box[2] - self.box[0]

    def name(self) -> str:
        return f"{self.colour} {self.shape}"


def place_boxes(rng: random.Random, canvas: int, sides: list[int], gap: int = 3) -> list[tuple[int, int, int, int]]:
    """Square boxes of the given sides at random non-overlapping places (rejection sampling).

    Retries the whole layout with smaller shapes in the rare case that no place is left.
    """
    for attempt in range(20):
        scale = 0.9**attempt
        placed: list[tuple[int, int, int, int]] = []
        for side in sides:
            side = max(6, int(side * scale))
            for _ in range(60):
                x1 = rng.randint(1, canvas - side - 2)
                y1 = rng.randint(1, canvas - side - 2)
                box = (x1, y1, x1 + side, y1 + side)
                if all(_apart(box, other, gap) for other in placed):
                    placed.append(box)
                    break
            else:
                break
        if len(placed) == len(sides):
            return placed
    raise RuntimeError(f"cannot place {len(sides)} shapes on a {canvas} px canvas")


def _apart(a, b, gap: int) -> bool:
    return a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]


def random_sides(rng: random.Random, canvas: int, count: int) -> list[int]:
    """Shape sides that fit ``count`` shapes: between a sixth and a third of the canvas, fewer shapes larger."""
    low = max(8, canvas // 7)
    high = max(low + 2, min(canvas // 3, int(canvas / (1.2 * math.sqrt(count + 1)))))
    return [rng.randint(low, high) for _ in range(count)]


def canvas(size: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (size, size), BACKGROUND)
    return image, ImageDraw.Draw(image)


def draw_item(draw: ImageDraw.ImageDraw, item: Item) -> None:
    x1, y1, x2, y2 = item.box
    fill = COLOURS[item.colour]
    if item.shape == "circle":
        draw.ellipse(item.box, fill=fill)
    elif item.shape == "square":
        draw.rectangle(item.box, fill=fill)
    elif item.shape == "triangle":
        draw.polygon([((x1 + x2) / 2, y1), (x2, y2), (x1, y2)], fill=fill)
    else:
        raise ValueError(f"unknown shape {item.shape!r}")


def draw_scene(size: int, items: list[Item]) -> Image.Image:
    image, draw = canvas(size)
    for item in items:
        draw_item(draw, item)
    return image


def draw_polygon(draw: ImageDraw.ImageDraw, centre: tuple[float, float], radius: float, sides: int,
                 rotation: float, colour: str) -> None:
    """A regular polygon outline, thick enough to see its corners at 56 px."""
    points = [
        (centre[0] + radius * math.cos(rotation + 2 * math.pi * k / sides),
         centre[1] + radius * math.sin(rotation + 2 * math.pi * k / sides))
        for k in range(sides)
    ]
    draw.polygon(points, fill=COLOURS[colour], outline=INK)


def draw_arrow(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A line with a filled head at ``end``."""
    draw.line([start, end], fill=INK, width=2)
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    head = 6
    left = (end[0] - head * math.cos(angle - 0.5), end[1] - head * math.sin(angle - 0.5))
    right = (end[0] - head * math.cos(angle + 0.5), end[1] - head * math.sin(angle + 0.5))
    draw.polygon([end, left, right], fill=INK)
