"""The bundled reward verifiers: the format gate, box rewards, multiple choice, exact match and math.

Every task verifier scores the extracted answer: the content of the last ``<answer>...</answer>``,
or the whole completion when there is none. The format gate and the reward weights are applied by
the core (``modomodo.CompositeReward``). docs/verifiers.md describes each one.
"""

from modomodo import Verifier, hookimpl

from modomodo.answers import extract_answer
from .choice import choice_match
from .exact import exact_match
from .format import lenient_format, strict_format
from .iou import binary_iou, coco_iou, first_box_iou
from .math import math_match

VERIFIERS = [
    Verifier("format", strict_format, "format", (0.0, 1.0),
             "1 if the completion is exactly <think>...</think> then a non-empty <answer>...</answer>"),
    Verifier("format-lenient", lenient_format, "format", (0.0, 1.0),
             "1 if a non-empty <answer>...</answer> appears anywhere"),
    Verifier("iou-coco", coco_iou, "iou", (0.0, 1.0),
             "detection: greedy matching by confidence, IoU > 0.5 counts, sum / max(#ref, #pred)",
             extract=extract_answer),
    Verifier("iou-binary", binary_iou, "iou", (0.0, 1.0),
             "grounding: 1 if the first box has IoU > 0.5 with the reference",
             extract=extract_answer),
    Verifier("iou-mean", first_box_iou, "iou", (0.0, 1.0),
             "grounding metric: IoU of the first box with the reference (LISA-test's mean IoU)",
             extract=extract_answer),
    Verifier("choice", choice_match, "accuracy", (0.0, 1.0),
             "multiple choice: the option letter, exactly or as the last stand-alone capital A-H",
             extract=extract_answer),
    Verifier("exact", exact_match, "accuracy", (0.0, 1.0),
             "short answer: exact after normalising case, spaces, punctuation and numbers",
             extract=extract_answer),
    Verifier("math", math_match, "accuracy", (0.0, 1.0),
             "numeric or symbolic answer, equal to the reference by math-verify",
             extract=extract_answer),
]


@hookimpl
def register_verifiers(register):
    for verifier in VERIFIERS:
        register(verifier)
