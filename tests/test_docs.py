"""Docs cannot drift from code: every hook and every config key is documented where users look."""

from __future__ import annotations

import ast
import inspect
import re
import typing
from pathlib import Path

import attrs
import pytest

import modomodo
from modomodo import hookspecs
from modomodo.config import Config

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXAMPLE = DOCS / "examples" / "modomodo-example"
HEADING = re.compile(r"^#+ ", re.MULTILINE)


def hooks() -> dict[str, str]:
    """Hook name -> its exact signature as written in the docs, e.g. ``register_datasets(register)``."""
    return {
        name: f"{name}{inspect.signature(function)}"
        for name, function in vars(hookspecs).items()
        if name.startswith("register_") and callable(function)
    }


def sections(markdown: str) -> dict[str, str]:
    """Heading line -> the text under it, up to the next heading."""
    parts = HEADING.split(markdown)
    return {part.split("\n", 1)[0].strip(): part.split("\n", 1)[-1] for part in parts[1:]}


@pytest.mark.parametrize(("hook", "signature"), list(hooks().items()))
def test_hook_is_documented_with_its_exact_signature(hook, signature):
    headings = sections((DOCS / "writing-plugins.md").read_text())
    assert f"`{signature}`" in headings, f"docs/writing-plugins.md needs a heading `{signature}`"


def test_no_documented_hook_is_missing_from_the_hook_specs():
    documented = re.findall(r"^#+ `(register_\w+)\(", (DOCS / "writing-plugins.md").read_text(), re.MULTILINE)
    assert sorted(documented) == sorted(hooks())


def _attrs_class(annotation) -> type | None:
    """The attrs class a field holds, directly, optionally, or as the values of a table of tables."""
    if attrs.has(annotation):
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is dict and attrs.has(args[-1]):
        return args[-1]
    if len(args) == 1 and attrs.has(args[0]):
        return args[0]
    return None


def config_sections(cls: type = Config, prefix: str = "") -> dict[str, list[str]]:
    """TOML section (``train.lora``, ``domains.NAME``) -> its keys, walked from the attrs classes."""
    found: dict[str, list[str]] = {}
    keys = []
    for field in attrs.fields(attrs.resolve_types(cls)):
        nested = _attrs_class(field.type)
        name = field.name
        if nested is not None and typing.get_origin(field.type) is dict:
            found.update(config_sections(nested, f"{prefix}{name}.NAME."))
        elif nested is not None:
            found.update(config_sections(nested, f"{prefix}{name}."))
            if prefix:
                keys.append(name)
        else:
            keys.append(name)
    if prefix:
        found[prefix.rstrip(".")] = keys
    return found


def documented_keys(section: str) -> list[str]:
    """Keys in the first column of the table under the heading naming ``[section]``."""
    by_heading = sections((DOCS / "config.md").read_text())
    matches = [text for heading, text in by_heading.items() if f"`[{section}]`" in heading]
    assert matches, f"docs/config.md needs a heading `[{section}]`"
    return re.findall(r"^\| `([\w-]+)` \|", matches[0], re.MULTILINE)


@pytest.mark.parametrize(("section", "keys"), list(config_sections().items()))
def test_every_config_key_is_documented_in_its_section(section, keys):
    documented = documented_keys(section)
    missing = [key for key in keys if key not in documented]
    stale = [key for key in documented if key not in keys]
    assert not missing, f"docs/config.md [{section}] lacks {missing}"
    assert not stale, f"docs/config.md [{section}] documents keys the config does not have: {stale}"


def test_config_sections_cover_the_whole_config():
    assert {"study", "model", "train", "train.lora", "eval", "domains.NAME", "domains.NAME.weights",
            "benchmarks.NAME", "optimizer", "executor"} <= set(config_sections())


def test_guide_shows_the_example_pyproject_as_it_is():
    guide = (DOCS / "writing-plugins.md").read_text()
    assert (EXAMPLE / "pyproject.toml").read_text().strip() in guide


def test_example_plugin_imports_only_the_public_api():
    tree = ast.parse((EXAMPLE / "modomodo_example.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modomodo"):
            assert node.module == "modomodo", f"imports from {node.module}"
            assert {alias.name for alias in node.names} <= set(modomodo.__all__)
        if isinstance(node, ast.Import):
            assert not any(alias.name.startswith("modomodo.") for alias in node.names)
