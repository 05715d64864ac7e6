"""One place to look components up by name: dataset sources, verifiers, trainers, optimizers."""

from __future__ import annotations

from typing import Any

from .errors import PluginError

KINDS = {
    "datasets": ("register_datasets", "dataset source"),
    "verifiers": ("register_verifiers", "verifier"),
    "trainers": ("register_trainers", "trainer"),
    "optimizers": ("register_mixture_optimizers", "mixture optimizer"),
}


class Registry:
    """Components of one kind by name, each remembered with the plugin that registered it."""

    def __init__(self, kind: str):
        self.kind = kind
        self.label = KINDS[kind][1]
        self._entries: dict[str, tuple[Any, str]] = {}
        self.failed_plugins: dict[str, str] = {}

    def add(self, component: Any, plugin: str) -> None:
        name = getattr(component, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {self.label} without a name: {component!r}")
        if name in self._entries:
            other = self._entries[name][1]
            if other == plugin:
                raise PluginError(f"plugin {plugin!r} registers {self.label} {name!r} twice")
            raise PluginError(
                f"{self.label} {name!r} is registered by two plugins: {other!r} and {plugin!r}; "
                f"uninstall one, or pick plugins with MODOMODO_LOAD_PLUGINS"
            )
        self._entries[name] = (component, plugin)

    def get(self, name: str) -> Any:
        try:
            return self._entries[name][0]
        except KeyError:
            raise PluginError(self._missing_message(name)) from None

    def plugin_of(self, name: str) -> str:
        return self._entries[name][1]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def _missing_message(self, name: str) -> str:
        known = ", ".join(self.names()) or "none"
        message = f"unknown {self.label} {name!r}; known: {known}"
        if self.failed_plugins:
            failed = "; ".join(f"{p} ({why})" for p, why in self.failed_plugins.items())
            message += f". These plugins failed to load and may have provided it: {failed}"
        return message
