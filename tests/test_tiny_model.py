"""The embedded tiny-qwen2vl: tokenizer, image-only processor, save/load through the Auto classes,
the shipped base (checksums, recipe) and the build that makes it (resumable, reproducible)."""

import json
import shutil
import sys
from pathlib import Path

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
    with pytest.raises(ConfigError, match="model.options: unknown key.*size.*pre-built.*build-base"):
        trainer.base_policy(ModelConfig(options={"size": "tiny"}), tmp_path)


@pytest.fixture
def toy_testbed():
    """The toy datasets of tests/fixtures/toy_testbed.py, registered for one test."""
    sys.path.insert(0, str(FIXTURES))
    from toy_testbed import ToyPlugin

    with temporary_plugin(ToyPlugin(), "toy-testbed"):
        yield
    sys.path.remove(str(FIXTURES))


def test_shipped_base_matches_its_checksums_and_recipe():
    from modomodo_plugins.trl_grpo.base_model import CHECKSUMS, RECIPE, SHIPPED, verify

    assert verify(SHIPPED) == []
    listed = {line.split()[1] for line in (SHIPPED / CHECKSUMS).read_text().splitlines()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "processor_config.json", RECIPE} <= listed
    assert listed == {p.name for p in SHIPPED.iterdir()} - {CHECKSUMS}  # nothing unlisted ships
    assert (SHIPPED / "model.safetensors").stat().st_size <= 8 * 2**20
    recipe = json.loads((SHIPPED / RECIPE).read_text())
    assert {"recipe", "steps", "rows_per_source", "build_seconds", "versions", "held_out_accuracy"} <= set(recipe)
    assert sum(recipe["rows_per_source"].values()) == recipe["rows_seen"]


def test_a_damaged_base_is_named_not_loaded(tmp_path, monkeypatch):
    from modomodo_plugins.trl_grpo import base_model

    copy = tmp_path / "base"
    shutil.copytree(base_model.SHIPPED, copy)
    with open(copy / "config.json", "a") as handle:
        handle.write(" ")
    (copy / "tokenizer.json").unlink()
    assert base_model.verify(copy) == ["config.json does not match its checksum", "tokenizer.json is missing"]
    monkeypatch.setattr(base_model, "SHIPPED", copy)
    with pytest.raises(ConfigError, match="damaged .*config.json does not match"):
        get_component("trainers", "trl-grpo").base_policy(ModelConfig(), tmp_path)


def test_the_shipped_tokenizer_covers_any_text():
    """Byte-level BPE: a plugin's prompt in any script or with emoji encodes and decodes unchanged."""
    from transformers import AutoTokenizer

    from modomodo_plugins.trl_grpo.base_model import SHIPPED

    tokenizer = AutoTokenizer.from_pretrained(SHIPPED)
    text = "Is the number of dots odd or even? Ünïcödé, 中文, émoji 🙂, tabs\tand {braces} [1, 2]"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text


def test_build_resumes_to_the_same_weights_as_a_straight_build(tmp_path, toy_testbed):
    """A build cut off after a checkpoint and run again ends with exactly the weights of an uncut one."""
    import torch
    from safetensors.torch import load_file

    from modomodo_plugins.trl_grpo.base_model import CHECKSUMS, build, verify
    from toy_testbed import toy_recipe

    recipe = toy_recipe(steps=40)
    straight = build(recipe, tmp_path / "work-a", tmp_path / "a")

    def cut(stage, done, total, note):
        if done == 25:
            raise KeyboardInterrupt  # after the checkpoint at step 20
    with pytest.raises(KeyboardInterrupt):
        build(recipe, tmp_path / "work-b", tmp_path / "b", cut)
    resumed = build(recipe, tmp_path / "work-b", tmp_path / "b")

    first, second = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert resumed["steps"] == straight["steps"] == 40 and resumed["rows_seen"] == 40 * recipe.batch_size
    assert verify(tmp_path / "b") == [] and (tmp_path / "b" / CHECKSUMS).is_file()
    assert not (tmp_path / "b.partial").exists()


def test_build_weights_do_not_depend_on_the_thread_count(tmp_path, toy_testbed):
    """A recipe cannot see torch's thread count, so the build must not depend on it."""
    import torch
    from safetensors.torch import load_file

    from modomodo_plugins.trl_grpo.base_model import build
    from toy_testbed import toy_recipe

    threads = torch.get_num_threads()
    weights = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            build(toy_recipe(steps=30), tmp_path / f"work{count}", tmp_path / str(count))
            assert torch.get_num_threads() == count  # the caller's setting is restored
            weights.append(load_file(tmp_path / str(count) / "model.safetensors"))
    finally:
        torch.set_num_threads(threads)
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


def test_a_workdir_resumes_only_its_own_recipe(tmp_path, toy_testbed):
    from modomodo_plugins.trl_grpo.base_model import Recipe, build
    from toy_testbed import toy_recipe

    build(toy_recipe(steps=10), tmp_path / "work", tmp_path / "out")
    with pytest.raises(ConfigError, match=r"other settings \(learning_rate, steps\)"):
        build(toy_recipe(steps=20, learning_rate=1e-3), tmp_path / "work", tmp_path / "out")
    with pytest.raises(ConfigError, match="unknown setting.*stepz"):
        Recipe.from_options({"stepz": 3})
    with pytest.raises(ConfigError, match="multiple of chunk_steps"):
        Recipe.from_options({"checkpoint_every": 75, "chunk_steps": 50})


def test_build_draws_fresh_rows_in_the_recipe_shares():
    """Each chunk draws new rows (never the same picture twice), perception_share of them perception rows."""
    from modomodo_plugins.trl_grpo.base_model import PERCEPTION_SOURCE, Recipe, chunk_rows

    recipe = Recipe(chunk_steps=10, batch_size=32, perception_share=0.5)
    first, second = chunk_rows(recipe, 0), chunk_rows(recipe, 1)
    assert len(first) == 320 and all(row.get("reference") for row in first)
    perception = sum(row["task"] in PERCEPTION_TASKS for row in first)
    assert 120 <= perception <= 200
    pictures = {row["image"].tobytes() + row["problem"].encode() for row in first}
    assert not pictures & {row["image"].tobytes() + row["problem"].encode() for row in second}
    assert [row["problem"] for row in chunk_rows(recipe, 0)] == [row["problem"] for row in first]
    assert PERCEPTION_SOURCE == "synth-perception"


PERCEPTION_TASKS = {"perceive-colour", "perceive-shape", "perceive-count", "perceive-where", "bind-colour",
                    "bind-shape", "bind-where", "is-there", "either-or", "box-of-shape"}


def test_build_base_command_refuses_bad_settings(run_modomodo, tmp_path):
    done = run_modomodo("build-base", "--output", tmp_path / "x", "--set", "stepz=3")
    assert done.returncode == 2 and "unknown setting(s) stepz" in done.stderr and "Traceback" not in done.stderr
    done = run_modomodo("build-base", "--output", tmp_path / "x", "--set", "steps")
    assert done.returncode != 0 and "expected KEY=VALUE" in done.stderr
