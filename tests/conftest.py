"""Shared test setup: offline, CPU-only, small thread pools; fixtures for plugins and the CLI."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import modomodo
from modomodo import plugins as plugin_manager

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


MODOMODO_EXECUTABLE = Path(sys.executable).with_name("modomodo")
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def echo_plugin():
    """The deterministic stand-in trainer, datasets and verifier of tests/fixtures/echo_plugin.py."""
    sys.path.insert(0, str(FIXTURES))
    import echo_plugin

    with modomodo.temporary_plugin(echo_plugin, "echo-test"):
        yield echo_plugin
    sys.path.remove(str(FIXTURES))


@pytest.fixture
def write_config():
    """Write tests/fixtures/echo_study.toml into a directory: ``write_config(directory, **{old: new})``.

    Its runs go under ``directory/runs``; each replacement must match (a test never edits a line that
    is not there). Returns the config's path.
    """

    def write(directory: Path, **replacements) -> Path:
        text = (FIXTURES / "echo_study.toml").read_text().replace("OUTPUT", str(directory / "runs"))
        for old, new in replacements.items():
            assert old in text, old
            text = text.replace(old, new)
        path = directory / "study.toml"
        path.write_text(text)
        return path

    return write


@pytest.fixture
def run_modomodo():
    """Run the real ``modomodo`` executable: ``run_modomodo("check", path, env={...}, pythonpath=dir)``.

    ``env`` entries override the environment (None removes one); ``pythonpath`` prepends a directory,
    e.g. one holding a fake installed distribution. Returns the CompletedProcess (text, captured).
    """

    def run(*args, env=None, pythonpath=None, cwd=None):
        environment = dict(os.environ)
        environment.pop(plugin_manager.LOAD_PLUGINS_VARIABLE, None)
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        if pythonpath is not None:
            environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), environment.get("PYTHONPATH")]))
        return subprocess.run([str(MODOMODO_EXECUTABLE), *map(str, args)], env=environment, cwd=cwd,
                              capture_output=True, text=True, timeout=120)

    return run


@pytest.fixture
def installed_echo_env(tmp_path):
    """An environment in which the echo stand-in is an installed distribution (found through its entry
    point), for tests that run real ``modomodo`` processes."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / "echo_plugin.py", site)
    dist = site / "echo_plugin-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[modomodo]\necho = echo_plugin\n")
    return dict(os.environ, PYTHONPATH=str(site), HF_HUB_OFFLINE="1")
