"""Boxes: parsing them out of text, box conventions, IoU, and the COCO-style greedy matching.

Predicted and reference boxes are compared in pixels of the stored image. The row's ``bbox`` key
says how the *model* writes its boxes (docs/verifiers.md has a worked example of each):

- ``"pixels"`` (default): pixels of the stored image, as the paper's solutions are written;
- ``"rel1000"``: 0-1000 relative coordinates (Qwen2-VL's grounding convention);
- ``"resized-input"``: pixels of the image the model saw after Qwen2-VL's ``smart_resize``
  (Qwen2.5-VL's convention).

No math-verify here: paper.md section 2.4 shows how it turned a box reward into a y1-matching hack.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

#: Predicted boxes matched per completion; boxes past it are counted (they cost the reward), not matched.
MAX_PREDICTED_BOXES = 100
#: Reference boxes read per row (COCO images have fewer than 100 objects).
MAX_REFERENCE_BOXES = 1000
#: A prediction matches a reference box only above this IoU (Visual-RFT, paper.md section 2.4).
MATCH_IOU = 0.5
#: Qwen2-VL's image processor: side multiple and pixel bounds of the resized input.
RESIZE_FACTOR = 28
DEFAULT_MIN_PIXELS = 56 * 56
DEFAULT_MAX_PIXELS = 28 * 28 * 1280
CONVENTIONS = ("pixels", "rel1000", "resized-input")

# Possessive quantifiers (Python 3.11+) keep every pattern linear: no backtracking into a number.
_NUMBER = r"[-+]?+(?:\d++(?:\.\d*+)?+|\.\d++)(?:[eE][-+]?+\d++)?+|[-+]?+(?:nan|inf(?:inity)?+)"
_N = rf"\s*+({_NUMBER})\s*+"
_LIST_BOX = rf"\[{_N},{_N},{_N},{_N}\]"
_PAIR_BOX = rf"\({_N},{_N}\)\s*+,\s*+\({_N},{_N}\)"  # Qwen2-VL: <|box_start|>(x1,y1),(x2,y2)<|box_end|>
_BOX_PATTERN = re.compile(rf"(?P<record>\{{[^{{}}]{{0,400}}+\}})|{_LIST_BOX}|{_PAIR_BOX}", re.IGNORECASE)
_LIST_BOX_PATTERN = re.compile(_LIST_BOX, re.IGNORECASE)
_CONFIDENCE_PATTERN = re.compile(rf"confidence['\"]?+\s*+:{_N}", re.IGNORECASE)


class Box(NamedTuple):
    x1: float
    y1: float
    x2: float
    y2: float
    confidence: float = 1.0

    @property
    def is_valid(self) -> bool:
        """Finite corners with x2 > x1 and y2 > y1; anything else never matches (an inverted box is wrong)."""
        corners = (self.x1, self.y1, self.x2, self.y2)
        return all(math.isfinite(c) for c in corners) and self.x2 > self.x1 and self.y2 > self.y1

    @property
    def corners(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


def _box(match: re.Match) -> Box | None:
    """The box one pattern match writes; None for a ``{...}`` record that holds no box."""
    record = match.group("record")
    if record is None:
        return Box(*(float(n) for n in match.groups()[1:] if n is not None))
    inner = _LIST_BOX_PATTERN.search(record)
    if inner is None:
        return None
    confidence = _CONFIDENCE_PATTERN.search(record)
    return Box(*(float(n) for n in inner.groups()), float(confidence.group(1)) if confidence else 1.0)


def _holds_box(match: re.Match) -> bool:
    record = match.group("record")
    return record is None or _LIST_BOX_PATTERN.search(record) is not None


def parse_boxes(text: str, limit: int) -> tuple[list[Box], int]:
    """The first ``limit`` boxes written in ``text``, and how many boxes it writes in all.

    Reads ``{'Position': [x1, y1, x2, y2], 'Confidence': c}`` records (either key order, JSON or
    Python quotes), bare ``[x1, y1, x2, y2]`` lists, and Qwen2-VL's ``(x1,y1),(x2,y2)``. A record
    without a confidence gets 1. Boxes past the limit are counted, not read.
    """
    boxes: list[Box] = []
    total = 0
    for match in _BOX_PATTERN.finditer(text):
        if len(boxes) < limit:
            box = _box(match)
            if box is not None:
                boxes.append(box)
                total += 1
        elif _holds_box(match):
            total += 1
    return boxes, total


def first_box(text: str) -> Box | None:
    """The first box written in ``text`` (read as ``parse_boxes`` reads), without reading the rest."""
    for match in _BOX_PATTERN.finditer(text):
        box = _box(match)
        if box is not None:
            return box
    return None


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes; 0 for an invalid box or a non-finite result."""
    if not (a.is_valid and b.is_valid):
        return 0.0
    width = min(a.x2, b.x2) - max(a.x1, b.x1)
    height = min(a.y2, b.y2) - max(a.y1, b.y1)
    if width <= 0 or height <= 0:
        return 0.0
    intersection = width * height
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - intersection
    value = intersection / union if union > 0 else 0.0
    return value if 0.0 <= value <= 1.0 else 0.0


def coco_match_score(predicted: list[Box], predicted_count: int, reference: list[Box]) -> float:
    """Visual-RFT's COCO reward: greedy matching by confidence, IoU > 0.5 to count, mean over max(#ref, #pred).

    Each prediction, most confident first, takes the unmatched reference box it overlaps most;
    matched IoUs are summed and divided by max(len(reference), predicted_count), clipped to 1.
    """
    if not reference or not predicted:
        return 0.0
    order = sorted(predicted, key=lambda box: -box.confidence if math.isfinite(box.confidence) else 0.0)
    unmatched = list(range(len(reference)))
    total = 0.0
    for box in order:
        best, best_iou = None, MATCH_IOU
        for index in unmatched:
            value = iou(box, reference[index])
            if value > best_iou:
                best, best_iou = index, value
        if best is not None:
            unmatched.remove(best)
            total += best_iou
            if not unmatched:
                break
    return min(1.0, total / max(len(reference), predicted_count))


def unique_boxes(boxes: list[Box]) -> list[Box]:
    """Boxes with repeated corners dropped, keeping the most confident copy (first on a tie)."""
    kept: dict[tuple[float, float, float, float], Box] = {}
    for box in boxes:
        previous = kept.get(box.corners)
        if previous is None or box.confidence > previous.confidence:
            kept[box.corners] = box
    return list(kept.values())


def image_size(row: Mapping[str, Any]) -> tuple[int, int]:
    """(width, height) of the stored image: ``row["image"].size`` (PIL) or ``image_width``/``image_height``."""
    size = getattr(row.get("image"), "size", None)
    if size is None:
        size = (row.get("image_width"), row.get("image_height"))
    try:
        width, height = (int(side) for side in size)
    except (TypeError, ValueError):
        raise ValueError(
            f"the row's box convention {row.get('bbox')!r} needs the image size: give the row a PIL "
            f"'image' or 'image_width' and 'image_height' (got {size!r})"
        ) from None
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got width {width} and height {height}")
    return width, height


def smart_resize(height: int, width: int, min_pixels: int = DEFAULT_MIN_PIXELS,
                 max_pixels: int = DEFAULT_MAX_PIXELS, factor: int = RESIZE_FACTOR) -> tuple[int, int]:
    """(height, width) of the model input after Qwen2-VL's image processor (transformers' ``smart_resize``)."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio of a {width}x{height} image exceeds Qwen2-VL's limit of 200")
    resized_height = round(height / factor) * factor
    resized_width = round(width / factor) * factor
    if resized_height * resized_width > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        resized_height = max(factor, math.floor(height / beta / factor) * factor)
        resized_width = max(factor, math.floor(width / beta / factor) * factor)
    elif resized_height * resized_width < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        resized_height = math.ceil(height * beta / factor) * factor
        resized_width = math.ceil(width * beta / factor) * factor
    return resized_height, resized_width


def to_image_pixels(boxes: list[Box], row: Mapping[str, Any]) -> list[Box]:
    """The model's boxes in pixels of the stored image, converted from the row's ``bbox`` convention."""
    convention = row.get("bbox") or "pixels"
    if convention == "pixels":
        return boxes
    width, height = image_size(row)
    if convention == "rel1000":
        scale_x, scale_y = width / 1000, height / 1000
    elif convention == "resized-input":
        resized_height, resized_width = smart_resize(
            height, width,
            min_pixels=int(row.get("min_pixels") or DEFAULT_MIN_PIXELS),
            max_pixels=int(row.get("max_pixels") or DEFAULT_MAX_PIXELS),
        )
        scale_x, scale_y = width / resized_width, height / resized_height
    else:
        raise ValueError(f"unknown box convention bbox={convention!r}; expected one of {', '.join(CONVENTIONS)}")
    return [Box(b.x1 * scale_x, b.y1 * scale_y, b.x2 * scale_x, b.y2 * scale_y, b.confidence) for b in boxes]
