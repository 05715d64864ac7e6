"""The trl-grpo trainer on a toy two-domain testbed: a real GRPO run on the tiny model (slow)."""

import sys
from pathlib import Path

import pytest

from modomodo import DomainData, GenerateRequest, Mixture, TrainRequest, get_component
from modomodo.config import config_from_dict
from modomodo.loading import domain_reward, load_rows
from modomodo.plugins import temporary_plugin

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy testbed registered, and a toy base built for it by the build code of the shipped base."""
    import torch

    from modomodo_plugins.trl_grpo.base_model import build

    torch.set_num_threads(1)
    sys.path.insert(0, str(FIXTURES))
    from toy_testbed import ToyPlugin, toy_recipe

    with temporary_plugin(ToyPlugin(), "toy-testbed"):
        root = tmp_path_factory.mktemp("toy-base")
        build(toy_recipe(steps=120), root / "work", root / "base")
        yield root / "base"
    sys.path.remove(str(FIXTURES))


def toy_config(base, **train):
    return config_from_dict({
        "study": {"name": "toy"},
        "model": {"path": str(base)},
        "train": {"steps": 4, "num_generations": 4, "batch_size": 8, "learning_rate": 1e-3,
                  "max_completion_length": 12, "logging_steps": 1, **train},
        "domains": {
            "colour": {"source": "toy-colour", "verifier": "toy-exact", "format": "toy-format"},
            "shape": {"source": "toy-shape", "verifier": "toy-exact", "format": "toy-format"},
        },
    })


def train_request(config, mixture, workdir, seed=0):
    domains = {
        name: DomainData(rows=load_rows(name, entry, seed=seed), reward=domain_reward(entry))
        for name, entry in config.domains.items()
    }
    return TrainRequest(mixture=mixture, seed=seed, domains=domains, model=config.model, train=config.train,
                        workdir=workdir)


@pytest.mark.slow
def test_grpo_trial_trains_on_the_realised_mixture(toy, tmp_path, monkeypatch):
    from modomodo_plugins.trl_grpo import rewards, trainer as trainer_module

    calls = []
    route = rewards.DomainRouter.__call__
    monkeypatch.setattr(rewards.DomainRouter, "__call__",
                        lambda self, completions, row_id, **kw: calls.append(list(row_id)) or route(self, completions, row_id, **kw))
    trainer = get_component("trainers", "trl-grpo")
    config = toy_config(toy)
    request = train_request(config, Mixture({"colour": 0.5, "shape": 0.5}), tmp_path)
    base = trainer.base_policy(config.model, tmp_path)
    before = {k: v.clone() for k, v in base.model.named_parameters()}

    outcome = trainer.train(request)

    after = dict(outcome.policy.model.named_parameters())
    changed = [k for k in before if not before[k].equal(after[k].detach())]
    assert any("language_model" in k for k in changed)
    assert not any("visual" in k for k in changed)  # freeze_vision is on by default
    metrics = outcome.metrics
    assert metrics["steps"] == 4
    assert {"domain/colour/reward", "domain/shape/reward", "domain/colour/format"} <= set(metrics)

    _, expected = trainer_module.training_stream(request)
    seen = [row for call in calls for row in call]
    groups = [seen[i : i + 4] for i in range(0, len(seen), 4)]
    assert all(len(set(group)) == 1 for group in groups)  # each prompt's generations are adjacent
    assert [group[0] for group in groups] == expected  # TRL consumed the realised order, unshuffled
    rows, _ = trainer_module.training_stream(request)
    counted = {d: sum(rows[i]["domain"] == d for i in expected) for d in ("colour", "shape")}
    assert metrics["domain_counts"] == {d: n for d, n in counted.items() if n}

    answers = trainer.generate(outcome.policy, request.domains["colour"].rows[:3], GenerateRequest(max_new_tokens=8))
    assert [len(a) for a in answers] == [1, 1, 1] and all(isinstance(a[0], str) for a in answers)


@pytest.mark.slow
def test_stop_ends_the_run_when_the_smaller_domain_is_exhausted(toy, tmp_path):
    trainer = get_component("trainers", "trl-grpo")
    config = toy_config(toy, steps=1000, on_exhausted="stop")
    request = train_request(config, Mixture({"colour": 0.5, "shape": 0.5}), tmp_path)
    outcome = trainer.train(request)
    shape_rows = len(request.domains["shape"].rows)
    assert outcome.metrics["steps"] < 1000
    # the stream stopped when shape ran out; the last partial update is dropped
    assert shape_rows - 1 <= outcome.metrics["domain_counts"]["shape"] <= shape_rows


@pytest.mark.slow
def test_sampled_generation_returns_k_answers_per_row(toy, tmp_path):
    trainer = get_component("trainers", "trl-grpo")
    config = toy_config(toy)
    rows = load_rows("colour", config.domains["colour"], seed=0)[:2]
    policy = trainer.base_policy(config.model, tmp_path)
    answers = trainer.generate(policy, rows, GenerateRequest(mode="sampled", samples=3, max_new_tokens=6))
    assert [len(a) for a in answers] == [3, 3]
