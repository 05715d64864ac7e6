"""The ``modomodo`` command line. Each command lives in ``modomodo.commands``."""

from __future__ import annotations

import sys

import click

from . import __version__
from .errors import ModomodoError


class _Group(click.Group):
    """Turns every ModomodoError into a one-line message and its exit code: no tracebacks for users."""

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


def _add_commands() -> None:
    """Every module in ``modomodo.commands`` adds its ``command``; plugins add theirs through the hook."""
    import importlib
    import pkgutil

    from . import commands
    from .plugins import pm

    for module_info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        cli.add_command(module.command)
    pm.hook.register_commands(cli=cli)


def main() -> None:
    from .plugins import load_plugins

    load_plugins()
    _add_commands()
    cli()
