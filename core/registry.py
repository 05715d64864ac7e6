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
    """Components of one kind by name, each remembered with the plugin that registered it.

    Two plugins may register the same name: that name is then ambiguous, and only a lookup of it fails
    (naming both); ``plugin:name`` always picks one.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self.label = KINDS[kind][1]
        self._entries: dict[str, list[tuple[Any, str]]] = {}
        self.failed_plugins: dict[str, str] = {}

    def add(self, component: Any, plugin: str) -> None:
        """Add one component; a nameless one, or a name the same plugin registered before, is a PluginError
        for that plugin's registration (the caller reports it and goes on)."""
        name = getattr(component, "name", None)
        if not isinstance(name, str) or not name or ":" in name:
            raise PluginError(f"plugin {plugin!r} registered a {self.label} without a valid name (a non-empty "
                              f"string without ':'): {component!r}")
        entries = self._entries.setdefault(name, [])
        if any(owner == plugin for _, owner in entries):
            raise PluginError(f"plugin {plugin!r} registers {self.label} {name!r} twice")
        entries.append((component, plugin))

    def _entry(self, name: str) -> tuple[Any, str]:
        plugin, sep, short = name.rpartition(":")
        entries = self._entries.get(short if sep else name, [])
        if sep:
            entries = [entry for entry in entries if entry[1] == plugin]
        if not entries:
            raise PluginError(self._missing_message(name))
        if len(entries) > 1:
            owners = [owner for _, owner in entries]
            raise PluginError(f"{self.label} {name!r} is registered by {len(owners)} plugins: "
                              f"{', '.join(map(repr, owners))}; name one as {' or '.join(f'{o}:{name}' for o in owners)}")
        return entries[0]

    def get(self, name: str) -> Any:
        return self._entry(name)[0]

    def plugin_of(self, name: str) -> str:
        return self._entry(name)[1]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def owned_by(self, plugin: str) -> list[str]:
        return sorted(name for name, entries in self._entries.items() if any(o == plugin for _, o in entries))

    def components(self) -> list[tuple[str, Any, str]]:
        """(name, component, plugin) for every registration, ambiguous names included."""
        return [(name, component, owner) for name in self.names() for component, owner in self._entries[name]]

    def __contains__(self, name: str) -> bool:
        try:
            self._entry(name)
        except PluginError:
            return False
        return True

    def _missing_message(self, name: str) -> str:
        known = ", ".join(self.names()) or "none"
        message = f"unknown {self.label} {name!r}; known: {known}"
        if self.failed_plugins:
            failed = "; ".join(f"{p} ({why})" for p, why in self.failed_plugins.items())
            message += f". These plugins failed to load and may have provided it: {failed}"
        return message
