"""Typed plugin options: one way for every plugin to take its ``options`` table, checked like the config.

A plugin declares its options as a frozen attrs class with defaults (and validators for bounds); the
core converts the table with the config's own cattrs converter, so an unknown key, a wrong type, a value
outside a ``Literal`` or a failed validator is one line naming the plugin, the key and what was expected:

    @attrs.frozen(kw_only=True)
    class Options:
        ridge: float = attrs.field(default=1e-3, validator=modomodo.positive)

    options = modomodo.parse_options(Options, given, owner="optimizer 'coli'")
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs
from cattrs.errors import ClassValidationError, IterableValidationError

from .config import _error_lines, converter
from .errors import UsageError

T = TypeVar("T")


def parse_options(options_class: type[T], given: Mapping[str, Any], owner: str) -> T:
    """``given`` as an ``options_class`` instance; a UsageError naming ``owner`` and the key otherwise."""
    known = [field.name for field in attrs.fields(options_class)]
    unknown = sorted(set(given) - set(known))
    if unknown:
        hints = [f"{key!r}" + (f" (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(key, known, n=1))
                               else "") for key in unknown]
        accepted = f"valid options: {', '.join(known)}" if known else "it takes no options"
        raise UsageError(f"{owner}: unknown option(s) {', '.join(hints)}; {accepted}")
    try:
        return converter.structure(dict(given), options_class)
    except (ClassValidationError, IterableValidationError, ValueError, TypeError, KeyError) as error:
        lines = _error_lines(error, "")
        raise UsageError("; ".join(f"{owner}: option {line}" for line in lines)) from None


def positive(instance, attribute, value) -> None:
    """An attrs validator: a finite number > 0."""
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name}: expected a finite number > 0, got {value!r}")


def between(low: float, high: float):
    """An attrs validator: a number from ``low`` to ``high`` (None passes, for optional options)."""

    def check(instance, attribute, value) -> None:
        if value is not None and not low <= value <= high:
            raise ValueError(f"{attribute.name}: expected a number from {low:g} to {high:g}, got {value!r}")

    return check
