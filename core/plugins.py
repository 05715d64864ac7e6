"""The plugin manager: bundled and third-party plugins load the same way, through entry points.

``MODOMODO_LOAD_PLUGINS`` (a comma list of distribution or entry-point names) picks which
installed plugins load; an empty value loads none. A plugin that fails to import or that
implements a hook with a misspelt name is reported by name and skipped; the CLI stays up.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from typing import Any

import pluggy

from . import hookspecs
from .registry import KINDS, Registry

ENTRY_POINT_GROUP = "modomodo"
LOAD_PLUGINS_VARIABLE = "MODOMODO_LOAD_PLUGINS"

pm = pluggy.PluginManager("modomodo")
pm.add_hookspecs(hookspecs)

_state: dict[str, Any] = {"loaded": False, "registries": None}
load_failures: dict[str, str] = {}
_versions: dict[str, str | None] = {}


def _wanted() -> set[str] | None:
    value = os.environ.get(LOAD_PLUGINS_VARIABLE)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def load_plugins() -> None:
    """Load every selected entry point once; record (and report) the ones that fail."""
    if _state["loaded"]:
        return
    _state["loaded"] = True
    wanted = _wanted()
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        dist_name = dist.metadata["Name"] if dist is not None else None
        if wanted is not None and entry_point.name not in wanted and dist_name not in wanted:
            continue
        if pm.has_plugin(entry_point.name):
            continue
        try:
            module = entry_point.load()
        except Exception as error:  # noqa: BLE001 - one broken plugin must not take the CLI down
            _fail(entry_point.name, f"failed to import {entry_point.value}: {type(error).__name__}: {error}")
            continue
        register_plugin(module, entry_point.name, dist.version if dist is not None else None)


def register_plugin(plugin: Any, name: str, version: str | None = None) -> bool:
    """Register one plugin strictly: a hook with a misspelt name or a bad signature rejects it."""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as error:
        _fail(name, str(error))
        return False
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        pm.unregister(plugin)
        _fail(name, f"{error} (misspelt? modomodo's hooks are: {', '.join(_hook_names())})")
        return False
    _versions[name] = version
    _state["registries"] = None
    return True


def unregister_plugin(name: str) -> None:
    pm.unregister(name=name)
    _versions.pop(name, None)
    _state["registries"] = None


def _hook_names() -> list[str]:
    return sorted(name for name in dir(hookspecs) if name.startswith("register_"))


def _fail(name: str, why: str) -> None:
    load_failures[name] = why
    print(f"modomodo: plugin {name!r} skipped: {why}", file=sys.stderr)


def registries() -> dict[str, Registry]:
    """Every component registered by the loaded plugins, by kind."""
    load_plugins()
    if _state["registries"] is None:
        built = {kind: Registry(kind) for kind in KINDS}
        for kind, (hook_name, _) in KINDS.items():
            built[kind].failed_plugins = dict(load_failures)
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                def register(component, _registry=built[kind], _plugin=impl.plugin_name):
                    _registry.add(component, _plugin)
                impl.function(register=register)
        _state["registries"] = built
    return _state["registries"]


def get(kind: str, name: str) -> Any:
    """Look a component up by kind ("datasets", "verifiers", "trainers", "optimizers") and name."""
    return registries()[kind].get(name)


def plugin_listing() -> list[dict[str, Any]]:
    """Name, version, implemented hooks and registered components of every loaded plugin."""
    regs = registries()
    listing = []
    for name, plugin in sorted(pm.list_name_plugin()):
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        registered = {kind: [c for c in reg.names() if reg.plugin_of(c) == name] for kind, reg in regs.items()}
        listing.append({
            "name": name,
            "version": _versions.get(name),
            "hooks": hooks,
            "registered": {kind: names for kind, names in registered.items() if names},
        })
    return listing
