"""The plugin system: real entry-point discovery, strict loading, isolation of broken plugins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import modomodo
from modomodo import DatasetSource, PluginError, Verifier, get_component, hookimpl

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PACKAGE = REPO / "docs" / "examples" / "modomodo-example"
BUNDLED = {"verifiers", "paper-datasets", "synthetic", "trl-grpo", "strategies", "botorch-gp"}


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    """The docs example plugin, pip-installed (wheel built from a copy) into a throwaway directory."""
    work = tmp_path_factory.mktemp("example")
    source = shutil.copytree(EXAMPLE_PACKAGE, work / "src")
    site = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    return site


def fake_distribution(site: Path, dist: str, module: str, source: str, entry_point: str = "") -> Path:
    """Write ``module`` and a ``*.dist-info`` declaring it in the ``modomodo`` entry-point group."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[modomodo]\n{entry_point or dist} = {module}\n")
    return site


def listing(result) -> dict[str, dict]:
    assert result.returncode == 0, result.stderr
    return {entry["name"]: entry for entry in json.loads(result.stdout)}


GOOD_PLUGIN = """
    from modomodo import Verifier, hookimpl

    @hookimpl
    def register_verifiers(register):
        register(Verifier(name="always-one", score=lambda completion, row: 1.0, kind="accuracy"))
"""


# --- discovery through entry points ------------------------------------------------------------


def test_bundled_plugins_are_listed_with_version_and_hooks(run_modomodo):
    plugins = listing(run_modomodo("plugins", "--json"))
    assert BUNDLED <= set(plugins)
    for name in BUNDLED:
        assert plugins[name]["version"] == modomodo.__version__
        assert isinstance(plugins[name]["hooks"], list)


def test_installed_example_plugin_is_listed_with_its_components(run_modomodo, example_site):
    example = listing(run_modomodo("plugins", "--json", pythonpath=example_site))["example"]
    assert example["version"] == "0.1.0"
    assert example["hooks"] == ["register_datasets", "register_verifiers"]
    assert example["registered"] == {"datasets": ["odd-one-out"], "verifiers": ["odd-one-out-letter"]}


def test_installed_example_components_can_be_looked_up_by_name(example_site):
    lookup = textwrap.dedent("""
        from modomodo import LoadRequest, get_component
        source = get_component("datasets", "odd-one-out")
        verifier = get_component("verifiers", "odd-one-out-letter")
        rows = list(source.load(LoadRequest(split="test", limit=3)))
        print(len(rows), [verifier(row["solution"], row) for row in rows])
    """)
    result = subprocess.run([sys.executable, "-c", lookup], capture_output=True, text=True, timeout=120,
                            env=_env(PYTHONPATH=str(example_site)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "[1.0,", "1.0,", "1.0]"]


def test_check_runs_a_study_config_on_the_installed_example(run_modomodo, example_site, tmp_path):
    config = tmp_path / "odd.toml"
    config.write_text(textwrap.dedent("""
        [study]
        name = "odd"
        objective = "in_score"

        [domains.odd]
        source = "odd-one-out"
        verifier = "odd-one-out-letter"
        options = { size = 20 }

        [benchmarks.odd-test]
        source = "odd-one-out"
        verifier = "odd-one-out-letter"
        group = "in"
        limit = 20
    """))
    result = run_modomodo("check", config, pythonpath=example_site)
    assert result.returncode == 0, result.stdout + result.stderr  # 1 if a reference missed full reward


def test_empty_load_plugins_variable_hides_every_plugin(run_modomodo, example_site):
    result = run_modomodo("plugins", "--json", env={"MODOMODO_LOAD_PLUGINS": ""}, pythonpath=example_site)
    assert listing(result) == {}


def test_load_plugins_variable_picks_by_distribution_name_in_any_spelling(run_modomodo, example_site):
    for spelling in ("modomodo-example", "Modomodo_Example", "example"):
        result = run_modomodo("plugins", "--json", env={"MODOMODO_LOAD_PLUGINS": spelling}, pythonpath=example_site)
        assert set(listing(result)) == {"example"}, spelling
    bundled_only = run_modomodo("plugins", "--json", env={"MODOMODO_LOAD_PLUGINS": "modomodo"}, pythonpath=example_site)
    assert set(listing(bundled_only)) == BUNDLED


def test_unknown_name_in_load_plugins_variable_is_harmless(run_modomodo, example_site):
    result = run_modomodo("plugins", "--json", env={"MODOMODO_LOAD_PLUGINS": "no-such-plugin, example"},
                          pythonpath=example_site)
    assert set(listing(result)) == {"example"}
    assert "no-such-plugin" in result.stderr


def test_listing_plugins_does_not_import_ml_frameworks():
    """`modomodo plugins` must stay fast: plugins import torch & co. lazily, inside functions."""
    probe = textwrap.dedent("""
        import sys
        from modomodo.cli import main
        sys.argv = ["modomodo", "plugins", "--json"]
        try:
            main()
        except SystemExit:
            pass
        heavy = sorted({"torch", "transformers", "trl", "botorch", "gpytorch", "datasets"} & set(sys.modules))
        print("HEAVY:", ",".join(heavy))
    """)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "HEAVY: "


# --- broken plugins ----------------------------------------------------------------------------------


def test_misspelt_hook_fails_to_load_naming_plugin_and_hook(run_modomodo, tmp_path):
    site = fake_distribution(tmp_path, "typo-plugin", "typo_plugin", """
        from modomodo import hookimpl

        @hookimpl
        def register_verifer(register):
            pass
    """)
    result = run_modomodo("plugins", "--json", pythonpath=site)
    plugins = listing(result)
    assert plugins["typo-plugin"]["failed"] is True
    assert "register_verifer" in plugins["typo-plugin"]["error"]
    assert "'typo-plugin'" in result.stderr and "did you mean 'register_verifiers'" in result.stderr
    assert BUNDLED <= set(plugins)


def test_plugin_raising_on_import_is_reported_and_skipped(run_modomodo, tmp_path):
    site = fake_distribution(tmp_path, "broken-plugin", "broken_plugin", "raise RuntimeError('boom at import')\n")
    fake_distribution(site, "good-plugin", "good_plugin", GOOD_PLUGIN)
    result = run_modomodo("plugins", "--json", pythonpath=site)
    plugins = listing(result)
    assert plugins["broken-plugin"]["failed"] is True
    assert "RuntimeError: boom at import" in plugins["broken-plugin"]["error"]
    assert plugins["good-plugin"]["registered"] == {"verifiers": ["always-one"]}
    assert "broken-plugin" in result.stderr and "Traceback" not in result.stderr
    assert run_modomodo("--help", pythonpath=site).returncode == 0


def test_second_distribution_reusing_an_entry_point_name_is_reported(run_modomodo, tmp_path):
    site = fake_distribution(tmp_path, "first-dist", "first_module", GOOD_PLUGIN, entry_point="shared")
    fake_distribution(site, "second-dist", "second_module", GOOD_PLUGIN, entry_point="shared")
    result = run_modomodo("plugins", "--json", pythonpath=site)
    plugins = listing(result)
    assert plugins["shared"]["registered"] == {"verifiers": ["always-one"]}
    clash = [entry for name, entry in plugins.items() if name.endswith("-dist:shared")]
    assert len(clash) == 1 and "entry point name 'shared' is already taken" in clash[0]["error"]


def test_missing_component_names_the_plugin_that_failed_to_load(tmp_path):
    site = fake_distribution(tmp_path, "broken-plugin", "broken_plugin", "import no_such_module\n")
    lookup = textwrap.dedent("""
        from modomodo import PluginError, get_component
        try:
            get_component("verifiers", "from-broken")
        except PluginError as error:
            print(error)
    """)
    result = subprocess.run([sys.executable, "-c", lookup], capture_output=True, text=True, timeout=120,
                            env=_env(PYTHONPATH=str(site)))
    assert "unknown verifier 'from-broken'" in result.stdout
    assert "broken-plugin (failed to import broken_plugin: ModuleNotFoundError" in result.stdout
    assert f"(at {site / 'broken_plugin.py'}:1)" in result.stdout  # the file and line to fix


class WrongArgument:
    @hookimpl
    def register_verifiers(self, registrar):
        pass


class MisspeltHook:
    @hookimpl
    def register_dataset(self, register):
        pass


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (WrongArgument(), r"plugin 'invalid'.*registrar"),
        (MisspeltHook(), r"plugin 'invalid'.*'register_dataset' \(did you mean 'register_datasets'\?\)"),
    ],
)
def test_invalid_hook_implementation_is_refused_in_process(temporary_plugin, plugin, message):
    with pytest.raises(PluginError, match=message):
        temporary_plugin(plugin, name="invalid")
    assert not modomodo.plugins.pm.has_plugin("invalid")


def test_plugin_whose_register_hook_raises_is_reported_and_skipped(temporary_plugin, capsys):
    class Raising:
        @hookimpl
        def register_verifiers(self, register):
            register(Verifier(name="half-registered", score=lambda c, r: 1.0, kind="accuracy"))
            raise ValueError("bug in plugin")

    temporary_plugin(Raising(), name="raising")
    with pytest.raises(PluginError, match=r"raising \(register_verifiers raised ValueError: bug in plugin\)"):
        get_component("verifiers", "half-registered")
    assert "plugin 'raising' skipped" in capsys.readouterr().err


# --- registries --------------------------------------------------------------------------------------


def _verifier_plugin(verifier_name: str):
    class Plugin:
        @hookimpl
        def register_verifiers(self, register):
            register(Verifier(name=verifier_name, score=lambda c, r: 1.0, kind="accuracy"))

    return Plugin()


def test_a_name_two_plugins_register_fails_only_where_it_is_used(temporary_plugin):
    temporary_plugin(_verifier_plugin("shared-name"), name="first-plugin")
    temporary_plugin(_verifier_plugin("shared-name"), name="second-plugin")
    with pytest.raises(PluginError, match=r"verifier 'shared-name' is registered by 2 plugins: 'first-plugin', "
                                          r"'second-plugin'; name one as first-plugin:shared-name or "
                                          r"second-plugin:shared-name"):
        get_component("verifiers", "shared-name")
    assert get_component("verifiers", "second-plugin:shared-name").name == "shared-name"
    assert get_component("verifiers", "exact").name == "exact"  # everything else still works
    listing = {plugin["name"]: plugin for plugin in modomodo.plugins.plugin_listing()}
    assert listing["first-plugin"]["registered"] == {"verifiers": ["shared-name"]}


def test_a_component_from_the_wrong_hook_is_skipped_and_its_plugin_named(temporary_plugin):
    class WrongHook:
        @hookimpl
        def register_mixture_optimizers(self, register):
            register(Verifier(name="misfiled", score=lambda c, r: 1.0, kind="accuracy"))

    temporary_plugin(WrongHook(), name="wrong-hook")
    with pytest.raises(PluginError, match=r"unknown mixture optimizer 'misfiled'.*wrong-hook \(register_mixture_"
                                          r"optimizers registered a Verifier \('misfiled'\), not a OptimizerFactory"):
        get_component("optimizers", "misfiled")


def test_temporary_plugin_components_exist_only_inside_the_test(temporary_plugin):
    class Source:
        @hookimpl
        def register_datasets(self, register):
            register(DatasetSource(name="three-rows", load=lambda request: [{"problem": "?"}] * 3))

    with modomodo.temporary_plugin(Source(), name="three-rows-plugin"):
        assert get_component("datasets", "three-rows").name == "three-rows"
    with pytest.raises(PluginError, match=r"unknown dataset source 'three-rows'"):
        get_component("datasets", "three-rows")


def test_unknown_component_lists_known_names(temporary_plugin):
    temporary_plugin(_verifier_plugin("known-one"), name="known-plugin")
    with pytest.raises(PluginError, match=r"unknown verifier 'knwon-one'; known: .*known-one"):
        get_component("verifiers", "knwon-one")


def test_component_without_a_name_is_rejected(temporary_plugin):
    class Nameless:
        @hookimpl
        def register_trainers(self, register):
            register(object())

    temporary_plugin(Nameless(), name="nameless")
    with pytest.raises(PluginError, match=r"nameless \(register_trainers registered a object \('\?'\) without "
                                          r"base_policy, train, generate, not a trainer"):
        get_component("trainers", "anything")


def _env(**overrides: str) -> dict[str, str]:
    """This environment without MODOMODO_LOAD_PLUGINS, plus ``overrides``."""
    environment = {k: v for k, v in os.environ.items() if k != "MODOMODO_LOAD_PLUGINS"}
    environment.update(overrides)
    return environment


def test_an_already_loaded_plugin_cannot_be_registered_again(temporary_plugin):
    loaded = modomodo.plugins.pm.get_plugin("strategies")
    with pytest.raises(PluginError, match=r"plugin 'strategies-again': Plugin already registered"):
        temporary_plugin(loaded, name="strategies-again")
