"""The command line: version, help that lists only commands that work, one-line errors."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest
from click.testing import CliRunner

import modomodo
from modomodo import commands
from modomodo.cli import cli

COMMAND_MODULES = sorted(info.name for info in pkgutil.iter_modules(commands.__path__))


def listed_commands(help_text: str) -> list[str]:
    block = help_text.split("Commands:", 1)[1]
    return re.findall(r"^  (\S+)", block, re.MULTILINE)


def test_version(run_modomodo):
    result = run_modomodo("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"modomodo, version {modomodo.__version__}"


@pytest.mark.parametrize("module_name", COMMAND_MODULES)
def test_every_command_module_imports_and_exposes_a_command(module_name):
    """The CLI skips a command module that fails to import; this test is where that failure shows."""
    module = importlib.import_module(f"modomodo.commands.{module_name}")
    assert module.command.name.replace("-", "_") == module_name


def test_help_lists_exactly_the_command_modules_and_plugin_commands(run_modomodo):
    result = run_modomodo("--help")
    assert result.returncode == 0, result.stderr
    plugin_commands = ["build_base"]  # added by the bundled trl-grpo plugin through register_commands
    assert sorted(c.replace("-", "_") for c in listed_commands(result.stdout)) == sorted(COMMAND_MODULES + plugin_commands)
    assert "unavailable" not in result.stderr


@pytest.mark.parametrize("command", [m.replace("_", "-") for m in COMMAND_MODULES])
def test_every_listed_command_has_working_help(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_unknown_command_is_a_usage_error(run_modomodo):
    result = run_modomodo("trian")
    assert result.returncode == 2
    assert "No such command 'trian'" in result.stderr
    assert "Traceback" not in result.stderr


def test_user_errors_print_one_line_and_their_exit_code(tmp_path):
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {tmp_path / 'missing.toml'}: file not found"


def test_train_needs_a_mixture_from_the_flag_or_the_config(tmp_path):
    config = tmp_path / "study.toml"
    config.write_text('[study]\nname = "x"\n\n[domains.a]\nsource = "synth-spatial"\nverifier = "exact"\n')
    result = CliRunner().invoke(cli, ["train", str(config)])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: give --mixture, or set domains.*.weight in {config}"
