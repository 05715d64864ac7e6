"""Exact match of short answers (SAT, ChartQA, InfoVQA), after a documented normalisation.

Both sides are normalised the same way: Unicode NFKC, case folded, runs of whitespace made one
space, and surrounding punctuation, quotes, brackets and markdown emphasis stripped. Two answers
that both read as numbers are compared as numbers: ``3.0`` equals ``3``, ``1,234`` equals ``1234``
and a trailing ``%`` is ignored (``45%`` equals ``45``, not ``0.45``). Against an option-letter
reference (``B``), an answer that leads with that letter (``B``, ``(B)``, ``B. Paris``) matches.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from modomodo.answers import extract_answer, reference_answer

_SURROUNDING = " \t\r\n.,;:!?\"'`()[]{}<>*_"
_PLAIN_NUMBER = re.compile(r"[-+]?+(?:\d++(?:\.\d*+)?+|\.\d++)(?:e[-+]?+\d++)?+")
_GROUPED_NUMBER = re.compile(r"[-+]?+\d{1,3}+(?:,\d{3}+)++(?:\.\d++)?+")
_OPTION_LETTER = re.compile(r"[a-h]")
_LEADING_OPTION = re.compile(r"([a-h])(?:[.):]|$)")


def normalise(text: str) -> str:
    """The comparable form of a short answer (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split()).strip(_SURROUNDING)


def as_number(normalised: str) -> Decimal | None:
    """The value of an answer that is one number (thousands separators and a trailing % allowed)."""
    text = normalised.removesuffix("%").rstrip()
    if _GROUPED_NUMBER.fullmatch(text):
        text = text.replace(",", "")
    elif not _PLAIN_NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def option_letter(normalised: str) -> str | None:
    """The letter of an option-letter reference such as ``B`` or ``(b)``, lower case; else None."""
    return normalised if _OPTION_LETTER.fullmatch(normalised) else None


def matches(answer: str, reference: str) -> bool:
    """Whether an answer equals a reference after normalisation, as numbers, or as an option letter."""
    answer, reference = normalise(answer), normalise(reference)
    if not answer:
        return False
    if answer == reference:
        return True
    reference_number = as_number(reference)
    if reference_number is not None:
        return as_number(answer) == reference_number
    letter = option_letter(reference)
    if letter is not None:
        leading = _LEADING_OPTION.match(answer)
        return leading is not None and leading.group(1) == letter
    return False


def exact_match(completion: str, row: Mapping[str, Any]) -> float:
    """1 when the extracted answer matches the reference (see ``matches``), else 0."""
    return float(matches(extract_answer(completion), reference_answer(row)))
