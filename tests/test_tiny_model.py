"""The embedded tiny-qwen2vl: tokenizer, image-only processor, save/load through the Auto classes,
and the cached warm start."""

import sys
from pathlib import Path

import attrs
import pytest
from PIL import Image

from modomodo import ConfigError, GenerateRequest, get_component
from modomodo.config import ModelConfig
from modomodo.plugins import temporary_plugin

FIXTURES = Path(__file__).parent / "fixtures"
TEXTS = ["What colour is the shape? A. red B. green <think>it is red</think><answer>A</answer>"] * 50


@pytest.fixture
def tokenizer():
    from modomodo_plugins.trl_grpo.tokenizer import train_tokenizer

    return train_tokenizer(TEXTS, 300)


def test_tags_are_single_tokens_that_survive_decoding(tokenizer):
    ids = tokenizer("<think>x</think><answer>A</answer>", add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids)[0] == "<think>"
    assert len(ids) == 6
    assert tokenizer.decode(ids + [tokenizer.eos_token_id], skip_special_tokens=True) == "<think>x</think><answer>A</answer>"


def test_chat_template_is_qwens_with_an_image_placeholder(tokenizer):
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
        tokenize=False, add_generation_prompt=True,
    )
    assert text.endswith("<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>\n<|im_start|>assistant\n")


def test_saved_tiny_model_loads_like_a_real_checkpoint(tokenizer, tmp_path):
    import torch

    from modomodo_plugins.trl_grpo.checkpoints import load_policy
    from modomodo_plugins.trl_grpo.processor import build_processor
    from modomodo_plugins.trl_grpo.tiny_model import SIZES, build_model

    model = build_model(SIZES["tiny"], tokenizer, seed=0)
    build_processor(tokenizer, 56 * 56, 112 * 112).save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json"} <= {p.name for p in tmp_path.iterdir()}

    policy = load_policy(tmp_path, ModelConfig(path=str(tmp_path), device="cpu"))
    assert type(policy.model).__name__ == "Qwen2VLForConditionalGeneration"
    assert policy.model.dtype == torch.float32  # bf16 only on a GPU
    assert hasattr(policy.processor, "image_processor") and not hasattr(policy.processor, "video_processor")
    for name, loaded in policy.model.state_dict().items():
        assert torch.equal(loaded, model.state_dict()[name])
    row = {"image": Image.new("RGB", (84, 70), "red"), "problem": "What colour is the shape?"}
    answers = get_component("trainers", "trl-grpo").generate(policy, [row, row], GenerateRequest(max_new_tokens=4))
    assert len(answers) == 2 and answers[0] == answers[1]  # greedy and batched: same prompt, same answer


def test_model_path_errors_name_the_key(tmp_path):
    trainer = get_component("trainers", "trl-grpo")
    with pytest.raises(ConfigError, match=r"model.path: .*\(no config.json"):
        trainer.base_policy(ModelConfig(path=str(tmp_path)), tmp_path)
    with pytest.raises(ConfigError, match="model.options: unknown key"):
        trainer.base_policy(ModelConfig(path=str(tmp_path), options={"warm_start_steps": 3}), tmp_path)
    with pytest.raises(ConfigError, match="model.options: unknown key.*sise"):
        trainer.base_policy(ModelConfig(options={"sise": "tiny"}), tmp_path)


@pytest.fixture
def toy_testbed():
    """The toy datasets of tests/fixtures/toy_testbed.py, registered for one test."""
    sys.path.insert(0, str(FIXTURES))
    from toy_testbed import ToyPlugin

    with temporary_plugin(ToyPlugin(), "toy-testbed"):
        yield
    sys.path.remove(str(FIXTURES))


def test_warm_start_is_built_once_and_reused(tmp_path, monkeypatch, toy_testbed):
    from modomodo_plugins.trl_grpo import warm_start

    monkeypatch.setenv("MODOMODO_CACHE", str(tmp_path / "cache"))
    options = {"warm_start_sources": ["toy-colour"], "warm_start_steps": 2, "vocab_size": 300}
    trainer = get_component("trainers", "trl-grpo")
    first = trainer.base_policy(ModelConfig(options=options), tmp_path)
    monkeypatch.setattr(warm_start, "build_warm_start", lambda *a: pytest.fail("rebuilt a cached warm start"))
    second = trainer.base_policy(ModelConfig(options=options), tmp_path)
    assert first.path == second.path and first.path.parent == tmp_path / "cache" / "tiny-qwen2vl"
    other = warm_start.EmbeddedSettings.from_options(dict(options, warm_start_steps=3))
    assert other.key() != first.path.name  # a changed setting is a different warm start


def test_warm_start_weights_do_not_depend_on_the_thread_count(tmp_path, toy_testbed):
    """The cache key cannot see torch's thread count, so the build must not depend on it."""
    import torch
    from safetensors.torch import load_file

    from modomodo_plugins.trl_grpo import warm_start

    settings = warm_start.EmbeddedSettings(warm_start_sources=["toy-colour"], warm_start_steps=30, vocab_size=300)
    threads = torch.get_num_threads()
    weights = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            warm_start.build_warm_start(settings, tmp_path / str(count))
            assert torch.get_num_threads() == count  # the caller's setting is restored
            weights.append(load_file(tmp_path / str(count) / "model.safetensors"))
    finally:
        torch.set_num_threads(threads)
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


def test_warm_start_pool_weights_perception_rows_and_can_leave_them_out():
    """Perception rows are about half the SFT examples by default; weight 0 leaves a pool of the sources alone."""
    from modomodo_plugins.trl_grpo.warm_start import EmbeddedSettings, warmup_rows

    settings = EmbeddedSettings(warm_start_sources=["synth-spatial"], warm_start_rows=20)
    rows, weights = warmup_rows(settings)
    perception = [w for row, w in zip(rows, weights) if row["task"].startswith("perceive-")]
    assert len(rows) == 40 and perception == [5] * 20
    rows, weights = warmup_rows(attrs.evolve(settings, warm_start_perception_weight=0))
    assert len(rows) == 20 and set(weights) == {1}
    with pytest.raises(ConfigError, match="warm_start_perception_weight"):
        EmbeddedSettings.from_options({"warm_start_perception_weight": -1})
