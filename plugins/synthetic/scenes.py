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
# large constant that swamped the shapes in the vision tower's features, and a model trained on it ignored the image.
BACKGROUND = (123, 117, 104)
INK = (60, 60, 60)
GRID = (215, 215, 215)
CELL = 28  # Qwen2-VL's 14 px patches, merged 2 x 2 into one visual token


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


def grid(canvas: int) -> tuple[int, float]:
    """Cells per side and the cell's width: one cell is one merged visual token of Qwen2-VL (28 px)."""
    cells = max(2, round(canvas / CELL))
    return cells, canvas / cells


def max_side(canvas: int) -> int:
    """The largest shape that fits inside one cell with a margin."""
    return int(grid(canvas)[1]) - 4


def place_in_cells(rng: random.Random, canvas: int, sides: list[int],
                   cells: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """Square boxes, each inside its (column, row) cell at a random offset.

    One shape per cell means one shape per visual token: what a shape is lives in one token, and
    where it is (left of, above) is the token's position, which Qwen2-VL's rotary positions encode.
    """
    _, pitch = grid(canvas)
    placed = []
    for side, (column, row) in zip(sides, cells):
        side = max(6, min(side, max_side(canvas)))
        corner = []
        for index in (column, row):
            low, high = math.ceil(index * pitch) + 2, math.floor((index + 1) * pitch) - side - 2
            corner.append(rng.randint(low, max(low, high)))
        placed.append((corner[0], corner[1], corner[0] + side, corner[1] + side))
    return placed


def place_boxes(rng: random.Random, canvas: int, sides: list[int]) -> list[tuple[int, int, int, int]]:
    """Square boxes of the given sides in distinct random cells of the grid."""
    cells, _ = grid(canvas)
    if len(sides) > cells * cells:
        raise ValueError(f"cannot place {len(sides)} shapes on a {canvas} px canvas ({cells} x {cells} cells)")
    return place_in_cells(rng, canvas, sides, rng.sample([(c, r) for c in range(cells) for r in range(cells)], len(sides)))


def random_sides(rng: random.Random, canvas: int, count: int) -> list[int]:
    """Shape sides between half a cell and a whole one (less its margin)."""
    high = max_side(canvas)
    return [rng.randint(max(6, high // 2), high) for _ in range(count)]


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
