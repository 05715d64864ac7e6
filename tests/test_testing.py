"""modomodo.testing: the contract checks a plugin author's tests call, on bundled components (they pass)
and on broken ones (each failure says what broke)."""

import pytest

from modomodo import DatasetSource, OptimizerFactory, Verifier, get_component
from modomodo.testing import check_dataset_source, check_optimizer, check_verifier


def test_the_bundled_components_keep_the_contracts():
    rows = check_dataset_source(get_component("datasets", "synth-spatial"))
    assert set(rows) == {"train", "test", "warmup"}
    check_verifier(get_component("verifiers", "exact"), rows["test"])
    check_verifier(get_component("verifiers", "choice"), check_dataset_source(get_component("datasets", "synth-science"))["test"])
    check_optimizer(get_component("optimizers", "quadratic"))
    check_optimizer(get_component("optimizers", "botorch-gp"), num_restarts=2, raw_samples=32, mc_samples=16)


def test_the_fixture_registers_for_one_test(temporary_plugin):
    from modomodo import hookimpl

    class Source:
        @hookimpl
        def register_datasets(self, register):
            register(DatasetSource(name="fixture-rows", load=lambda request: []))

    temporary_plugin(Source(), name="fixture-plugin")
    assert get_component("datasets", "fixture-rows").name == "fixture-rows"


def rows_without_answer_tags(request):
    return [{"image": None, "problem": "2+2?", "solution": "4"}]


def unseeded_rows(request, counter=iter(range(10**6))):
    return [{"image": None, "problem": f"question {next(counter)}", "solution": "<answer>A</answer>"}]


@pytest.mark.parametrize("load, message", [
    (rows_without_answer_tags, "solution '4' has no <answer>...</answer>"),
    (unseeded_rows, "gave other rows for the same request"),
    (lambda request: [{"problem": "?", "solution": "<answer>A</answer>"}], "row 0 has no image column"),
])
def test_a_broken_source_is_named(load, message):
    with pytest.raises(AssertionError, match=message):
        check_dataset_source(DatasetSource(name="broken", load=load))


def test_a_verifier_that_rewards_everything_is_caught():
    rows = [{"image": None, "problem": "?", "solution": "<answer>B</answer>"}]
    with pytest.raises(AssertionError, match="the wrong answer 'C' scored full reward"):
        check_verifier(Verifier(name="generous", score=lambda c, r: 1.0, kind="accuracy"), rows)


def test_an_optimizer_proposing_other_domains_is_caught():
    from modomodo import Mixture, PluginError

    class Proposer:
        def propose(self, history, n):
            return [Mixture({"x": 1.0})] * n

    factory = OptimizerFactory(name="elsewhere", create=lambda domains, objective, seed: Proposer())
    with pytest.raises(PluginError, match="proposed a mixture over x; expected one over exactly a, b, c"):
        check_optimizer(factory)
