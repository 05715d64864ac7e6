"""Box rewards: COCO-style matching for detection, first-box IoU for grounding (paper.md section 2.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modomodo.answers import extract_answer, reference_answer
from .boxes import (
    MATCH_IOU,
    MAX_PREDICTED_BOXES,
    MAX_REFERENCE_BOXES,
    Box,
    coco_match_score,
    first_box,
    iou,
    parse_boxes,
    to_image_pixels,
    unique_boxes,
)


def _reference_boxes(row: Mapping[str, Any]) -> list[Box]:
    boxes, _ = parse_boxes(reference_answer(row), MAX_REFERENCE_BOXES)
    return boxes


def first_box_iou(completion: str, row: Mapping[str, Any]) -> float:
    """IoU of the first predicted box with the reference box it overlaps most (LISA-test's mean-IoU metric)."""
    predicted = first_box(extract_answer(completion))
    if predicted is None:
        return 0.0
    (box,) = to_image_pixels([predicted], row)
    return max((iou(box, reference) for reference in _reference_boxes(row)), default=0.0)


def binary_iou(completion: str, row: Mapping[str, Any]) -> float:
    """1 when the first predicted box has IoU > 0.5 with a reference box, else 0 (the LISA training reward)."""
    return float(first_box_iou(completion, row) > MATCH_IOU)


def coco_iou(completion: str, row: Mapping[str, Any]) -> float:
    """Detection reward: duplicates dropped, greedy matching by confidence, IoU > 0.5 to count."""
    predicted, count = parse_boxes(extract_answer(completion), MAX_PREDICTED_BOXES)
    unique = unique_boxes(predicted)
    count -= len(predicted) - len(unique)
    return coco_match_score(to_image_pixels(unique, row), count, _reference_boxes(row))
