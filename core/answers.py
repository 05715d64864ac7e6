"""The answer format, in one place: ``<think>...</think><answer>...</answer>``, option letters A-H.

Verifiers, ``modomodo check``, dataset sources and tokenizers all read and write answers through this
module, so a completion's answer is the same everywhere: the *last* complete ``<answer>...</answer>``.
Everything here runs in linear time with ``str.find``/``rfind`` instead of regular expressions: a
completion with thousands of unclosed tags must cost no more than reading it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
LETTERS = "ABCDEFGH"  # option letters of multiple-choice prompts (the paper's Figure 2)


def completion(think: str, answer: str) -> str:
    """A completion in the required format: ``<think>think</think><answer>answer</answer>``."""
    return f"{THINK_OPEN}{think}{THINK_CLOSE}{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"


def answer_span(text: str) -> str | None:
    """The content of the last complete ``<answer>...</answer>``, or None when there is none.

    The last one wins because it is the model's final commitment; the innermost opening tag
    before that closing tag starts it, so ``<answer><answer>B</answer>`` gives ``B``.
    """
    close = text.rfind(ANSWER_CLOSE)
    if close < 0:
        return None
    start = text.rfind(ANSWER_OPEN, 0, close)
    if start < 0:
        return None
    return text[start + len(ANSWER_OPEN):close]


def extract_answer(text: str) -> str:
    """What a task verifier scores: the ``<answer>`` content when present, else the whole text, stripped."""
    span = answer_span(text)
    return (text if span is None else span).strip()


def reference_answer(row: Mapping[str, Any]) -> str:
    """The row's reference answer: ``row["solution"]`` with its ``<answer>`` tags removed if it has them."""
    solution = row.get("solution")
    return extract_answer(solution if isinstance(solution, str) else str(solution or ""))


def is_strict_format(text: str) -> bool:
    """``<think>...</think>`` then ``<answer>...</answer>``, one of each, only whitespace around the tags.

    The reasoning may be empty; the answer may not (an empty answer commits to nothing).
    """
    body = text.strip()
    if not (body.startswith(THINK_OPEN) and body.endswith(ANSWER_CLOSE)):
        return False
    if any(body.count(tag) != 1 for tag in (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)):
        return False
    think_close = body.find(THINK_CLOSE)
    answer_open = body.find(ANSWER_OPEN)
    if not think_close < answer_open:
        return False
    if body[think_close + len(THINK_CLOSE):answer_open].strip():
        return False
    return bool(body[answer_open + len(ANSWER_OPEN):-len(ANSWER_CLOSE)].strip())


def has_answer(text: str) -> bool:
    """A non-empty ``<answer>...</answer>`` can be found anywhere in the text."""
    span = answer_span(text)
    return span is not None and bool(span.strip())
