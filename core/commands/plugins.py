"""``modomodo plugins``: which plugins loaded, their versions, hooks and components."""

import json

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..plugins import load_failures, plugin_listing


@click.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def command(as_json):
    """List installed plugins: version, description, the hooks each implements and what each registered
    (--json adds each component's description)."""
    listing = plugin_listing()
    if as_json:
        failures = [{"name": name, "error": why} for name, why in sorted(load_failures.items())]
        click.echo(json.dumps(listing + [dict(f, failed=True) for f in failures], indent=2))
        return
    table = Table("plugin", "version", "description", "hooks", "registered")
    for plugin in listing:
        registered = "\n".join(f"{kind}: {', '.join(names)}" for kind, names in plugin["registered"].items())
        table.add_row(plugin["name"], plugin["version"] or "-", escape(plugin["description"]),
                      "\n".join(plugin["hooks"]), registered)
    for name, why in sorted(load_failures.items()):
        table.add_row(name, "-", "", "[red]failed to load[/red]", escape(why))
    Console().print(table)
