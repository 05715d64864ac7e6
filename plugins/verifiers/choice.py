"""Multiple choice (GeoQAV, ScienceQA, MathVista, MMMU): the answer's option letter against the reference's.

As in the paper's "accuracy_sat" reward (paper.md section 2.4), without its math-verify step:
an exact match (``exact.matches``), or else the last stand-alone capital letter A-H of the answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from modomodo.answers import extract_answer, reference_answer
from .exact import matches, normalise, option_letter

_STANDALONE_LETTER = re.compile(r"\b[A-H]\b")


def last_standalone_letter(text: str) -> str | None:
    """The last capital A-H that is a word on its own ("so the answer is B." gives B)."""
    found = _STANDALONE_LETTER.search(text[::-1])
    return found.group(0) if found else None


def choice_match(completion: str, row: Mapping[str, Any]) -> float:
    """1 when the answer is the reference option (exactly, or by its last stand-alone letter), else 0."""
    answer, reference = extract_answer(completion), reference_answer(row)
    if matches(answer, reference):
        return 1.0
    letter = option_letter(normalise(reference))
    return float(letter is not None and last_standalone_letter(answer) == letter.upper())
