"""The ``modomodo`` command line. Each command lives in ``modomodo.commands``."""

from __future__ import annotations

import functools
import importlib
import pkgutil
import sys

import click

from . import __version__
from .errors import ModomodoError


class _Group(click.Group):
    """Adds the commands on first use, and turns every ModomodoError into a one-line message and its
    exit code: no tracebacks for users."""

    def list_commands(self, ctx):
        _add_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx, cmd_name):
        _add_commands()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ModomodoError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="modomodo")
def cli():
    """Find the data mixture that makes RLVR on vision-language models generalise best."""


@functools.cache
def _add_commands() -> None:
    """Every module in ``modomodo.commands`` adds its ``command``; plugins add theirs through the hook."""
    from . import commands
    from .plugins import add_plugin_commands

    for module_info in pkgutil.iter_modules(commands.__path__):
        try:
            module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        except Exception as error:  # noqa: BLE001 - the other commands stay usable; tests/test_cli.py fails
            click.echo(f"modomodo: command {module_info.name!r} is unavailable: {type(error).__name__}: {error}",
                       err=True)
            continue
        cli.add_command(module.command)
    add_plugin_commands(cli)


def main() -> None:
    cli()
