"""``--set KEY=VALUE``: one parser for every command and script that takes settings on the command line."""

from __future__ import annotations

import json
from typing import Any

from .errors import ConfigError


def parse_assignment(text: str) -> tuple[str, Any]:
    """``--set KEY=VALUE``: the key and the value, parsed as JSON when it parses (``150``, ``[1, 2]``),
    else kept as a string (``small``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, for example train.steps=150")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value
