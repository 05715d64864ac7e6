"""``modomodo check CONFIG``: validate a config and the components it names."""

import click
from rich.console import Console

from ..config import load_config
from ..plugins import get
from ..errors import PluginError


@click.command(name="check")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
def command(config_path):
    """Validate CONFIG (exit 2 if invalid) and check every component it names (exit 1 on failure)."""
    console = Console()
    config = load_config(config_path)
    console.print(f"[green]ok[/green] {config_path}: valid config, {len(config.domains)} domains, "
                  f"{len(config.benchmarks)} benchmarks")
    failures = []
    wanted = [("trainers", config.model.trainer), ("optimizers", config.optimizer.name)]
    for section, entries in (("domains", config.domains), ("benchmarks", config.benchmarks)):
        for name, entry in entries.items():
            wanted.append(("datasets", entry.source))
            verifiers = entry.verifier if isinstance(entry.verifier, list) else [entry.verifier]
            wanted.extend(("verifiers", v) for v in verifiers)
            if entry.format != "none":
                wanted.append(("verifiers", entry.format))
    for kind, name in dict.fromkeys(wanted):
        try:
            get(kind, name)
        except PluginError as error:
            failures.append(str(error))
    for failure in failures:
        console.print(f"[red]failed[/red] {failure}", highlight=False)
    if failures:
        raise SystemExit(1)
