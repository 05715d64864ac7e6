"""The plugin manager: bundled and third-party plugins load the same way, through entry points.

``MODOMODO_LOAD_PLUGINS`` (a comma list of distribution or entry-point names) picks which
installed plugins load; an empty value loads none. A plugin that fails to import, that
implements a hook with a misspelt name, or whose ``register_*`` hook raises is reported by
name and skipped; the CLI stays up.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.metadata
import os
import re
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import KINDS, Registry

ENTRY_POINT_GROUP = "modomodo"
LOAD_PLUGINS_VARIABLE = "MODOMODO_LOAD_PLUGINS"

pm = pluggy.PluginManager("modomodo")
pm.add_hookspecs(hookspecs)

_state: dict[str, Any] = {"loaded": False, "registries": None}
load_failures: dict[str, str] = {}
_versions: dict[str, str | None] = {}
_from_entry_points: set[str] = set()


def _normalise(name: str) -> str:
    """Distribution names compare as pip does: case, '-', '_' and '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _wanted() -> set[str] | None:
    value = os.environ.get(LOAD_PLUGINS_VARIABLE)
    if value is None:
        return None
    return {_normalise(name.strip()) for name in value.split(",") if name.strip()}


def load_plugins() -> None:
    """Load every selected entry point once; report and skip the ones that fail."""
    if _state["loaded"]:
        return
    _state["loaded"] = True
    wanted = _wanted()
    matched: set[str] = set()
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        dist_name = dist.metadata["Name"] if dist is not None else ""
        if wanted is not None:
            names = {_normalise(entry_point.name), _normalise(dist_name)} & wanted
            if not names:
                continue
            matched |= names
        if pm.has_plugin(entry_point.name):
            _fail(f"{dist_name}:{entry_point.name}",
                  f"entry point name {entry_point.name!r} is already taken by another plugin; rename it")
            continue
        try:
            module = entry_point.load()
        except Exception as error:  # noqa: BLE001 - one broken plugin must not take the CLI down
            _fail(entry_point.name, f"failed to import {entry_point.value}: {type(error).__name__}: {error}"
                                    f"{where(error)}")
            continue
        try:
            register_plugin(module, entry_point.name, dist.version if dist is not None else None)
        except PluginError as error:
            _fail(entry_point.name, str(error))
        else:
            _from_entry_points.add(entry_point.name)
    for name in sorted((wanted or set()) - matched):
        print(f"modomodo: {LOAD_PLUGINS_VARIABLE} names {name!r}, which is not an installed plugin",
              file=sys.stderr)


def where(error: BaseException) -> str:
    """`` (at file:line)`` of the innermost frame of ``error`` outside importlib, to find the broken line."""
    import traceback

    frames = [f for f in traceback.extract_tb(error.__traceback__) if "importlib" not in f.filename]
    if isinstance(error, SyntaxError) and error.filename:
        return f" (at {error.filename}:{error.lineno})"
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def register_plugin(plugin: Any, name: str, version: str | None = None) -> None:
    """Register one plugin strictly; a hook with a misspelt name or a bad signature raises PluginError."""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as error:
        raise PluginError(f"plugin {name!r}: {' '.join(str(error).split())}") from None
    except ValueError as error:  # the name or the object is already registered
        raise PluginError(f"plugin {name!r}: {str(error).splitlines()[0]}") from None
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        unknown = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [] if not caller.has_spec())
        pm.unregister(plugin)
        raise PluginError(_unknown_hooks_message(name, unknown)) from None
    _versions[name] = version
    _state["registries"] = None


def unregister_plugin(name: str) -> None:
    pm.unregister(name=name)
    _versions.pop(name, None)
    _state["registries"] = None


@contextlib.contextmanager
def temporary_plugin(plugin: Any, name: str) -> Iterator[Any]:
    """Register ``plugin`` (a module, class or object with ``@hookimpl`` functions) for a ``with`` block.

    Meant for tests: the plugin's components, and any failure reported for it, last for the block only.
    """
    load_plugins()
    register_plugin(plugin, name)
    try:
        yield plugin
    finally:
        unregister_plugin(name)
        load_failures.pop(name, None)


def plugin_modules(runtime_only: bool = False) -> list[tuple[str, str]]:
    """(name, module) of every loaded plugin that is a module; ``runtime_only``: those registered in this
    process rather than through an entry point (``temporary_plugin``), which a child trial registers again."""
    load_plugins()
    return [(name, plugin.__name__) for name, plugin in pm.list_name_plugin()
            if isinstance(plugin, types.ModuleType) and not (runtime_only and name in _from_entry_points)]


def hook_names() -> list[str]:
    """The names of modomodo's hooks, as plugins must spell them."""
    return sorted(name for name in vars(hookspecs) if name.startswith("register_"))


def _unknown_hooks_message(plugin: str, unknown: list[str]) -> str:
    parts = []
    for hook in unknown:
        close = difflib.get_close_matches(hook, hook_names(), n=1)
        parts.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return (f"plugin {plugin!r} implements unknown hook(s) {', '.join(parts)}; "
            f"modomodo's hooks are: {', '.join(hook_names())}")


def _fail(name: str, why: str) -> None:
    load_failures[name] = why
    print(f"modomodo: plugin {name!r} skipped: {why}", file=sys.stderr)


def implementations(hook_name: str) -> Iterator[tuple[str, Callable[..., Any]]]:
    """(plugin name, function) per implementation of a hook, so each plugin's call can fail on its own."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        yield impl.plugin_name, impl.function


def add_plugin_commands(cli: Any) -> None:
    """Let each plugin add its CLI commands; a plugin whose hook raises is reported and skipped."""
    load_plugins()
    for plugin_name, register_commands in implementations("register_commands"):
        try:
            register_commands(cli=cli)
        except Exception as error:  # noqa: BLE001 - a plugin bug must not take the CLI down
            _fail(plugin_name, f"register_commands raised {type(error).__name__}: {error}")


def registries() -> dict[str, Registry]:
    """Every component registered by the loaded plugins, by kind.

    A plugin whose ``register_*`` hook raises is reported and its components of that kind dropped;
    two plugins registering the same name raise PluginError naming both.
    """
    load_plugins()
    if _state["registries"] is None:
        built = {kind: Registry(kind) for kind in KINDS}
        for kind, (hook_name, _) in KINDS.items():
            for plugin_name, register_hook in implementations(hook_name):
                staged: list[Any] = []

                def register(component: Any, _staged: list[Any] = staged) -> None:
                    _staged.append(component)

                try:
                    register_hook(register=register)
                except Exception as error:  # noqa: BLE001 - a plugin bug must not take the CLI down
                    _fail(plugin_name, f"{hook_name} raised {type(error).__name__}: {error}")
                    continue
                for component in staged:
                    wrong = wrong_kind(kind, component)
                    if wrong:
                        _fail(plugin_name, f"{hook_name} registered {wrong}; skipped")
                        continue
                    try:
                        built[kind].add(component, plugin_name)
                    except PluginError as error:
                        _fail(plugin_name, str(error))
        for registry in built.values():
            registry.failed_plugins = dict(load_failures)
        _state["registries"] = built
    return _state["registries"]


def get(kind: str, name: str) -> Any:
    """Look a component up by kind ("datasets", "verifiers", "trainers", "optimizers") and name."""
    if kind not in KINDS:
        raise PluginError(f"unknown component kind {kind!r}; expected one of {', '.join(KINDS)}")
    return registries()[kind].get(name)


def plugin_of(kind: str, name: str) -> str:
    """The plugin that registered component ``name`` of ``kind``."""
    return registries()[kind].plugin_of(name)


def wrong_kind(kind: str, component: Any) -> str | None:
    """Why ``component`` cannot be a ``kind`` (registered from the wrong hook, say), or None."""
    from .datasets import DatasetSource
    from .optimizers import OptimizerFactory
    from .verifiers import Verifier

    expected = {"datasets": DatasetSource, "verifiers": Verifier, "optimizers": OptimizerFactory}.get(kind)
    if expected is not None and not isinstance(component, expected):
        return f"a {type(component).__name__} ({getattr(component, 'name', '?')!r}), not a {expected.__name__}"
    if kind == "trainers":
        missing = [m for m in ("base_policy", "train", "generate") if not callable(getattr(component, m, None))]
        if missing:
            return (f"a {type(component).__name__} ({getattr(component, 'name', '?')!r}) without "
                    f"{', '.join(missing)}, not a trainer")
    return None


def plugin_description(plugin: Any) -> str:
    """The first line of the plugin's docstring (its module's, for a module plugin)."""
    return (getattr(plugin, "__doc__", None) or "").strip().split("\n")[0]


def plugin_listing() -> list[dict[str, Any]]:
    """Name, version, description, implemented hooks and registered components (with their descriptions)
    of every loaded plugin."""
    regs = registries()
    listing = []
    for name, plugin in sorted(pm.list_name_plugin()):
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        registered = {kind: reg.owned_by(name) for kind, reg in regs.items()}
        described = {kind: {component_name: getattr(component, "description", "") or ""
                            for component_name, component, owner in reg.components() if owner == name}
                     for kind, reg in regs.items()}
        listing.append({
            "name": name,
            "version": _versions.get(name),
            "description": plugin_description(plugin),
            "hooks": hooks,
            "registered": {kind: names for kind, names in registered.items() if names},
            "descriptions": {kind: names for kind, names in described.items() if names},
        })
    return listing
