"""What a real-scale trial relies on, checked on CPU: the launcher's command, the batch split over
processes, the generation engine's choice, and vLLM's prompts being the ones HF generate answers."""

import pytest

from modomodo import ConfigError, get_component
from modomodo.config import TrainConfig


def test_the_launcher_starts_n_processes_on_a_port_of_their_own(tmp_path):
    trainer = get_component("trainers", "trl-grpo")
    plain = trainer.launch_command(4, None)
    assert plain[1:3] == ["-m", "accelerate.commands.launch"]
    assert plain[plain.index("--num_processes") + 1] == "4" and "--multi_gpu" in plain
    port = int(plain[plain.index("--main_process_port") + 1])
    assert 0 < port < 65536
    with_file = trainer.launch_command(2, str(tmp_path / "ds.yaml"))
    assert with_file[with_file.index("--config_file") + 1] == str(tmp_path / "ds.yaml")
    assert "--multi_gpu" not in with_file  # the user's file says how to distribute


def test_the_update_is_split_over_processes_and_accumulation(monkeypatch):
    from modomodo_plugins.trl_grpo.trainer import per_device_batch

    monkeypatch.setenv("WORLD_SIZE", "3")
    assert per_device_batch(TrainConfig(batch_size=12, num_generations=6, gradient_accumulation_steps=2)) == 2
    with pytest.raises(ConfigError, match="train.batch_size: 8 completions an update cannot be split over 3 "
                                          r"process\(es\) x 1 accumulation step\(s\); expected a multiple of 3"):
        per_device_batch(TrainConfig(batch_size=8, num_generations=4))


def test_auto_falls_back_to_hf_generate_and_vllm_is_refused_with_what_to_do(monkeypatch):
    from modomodo_plugins.trl_grpo import vllm_generation

    assert vllm_generation.choose_engine("auto", "cpu") == "hf"
    assert vllm_generation.choose_engine("hf", "cuda") == "hf"
    monkeypatch.setattr(vllm_generation.importlib.util, "find_spec", lambda name: None)
    assert vllm_generation.choose_engine("auto", "cuda") == "hf"
    with pytest.raises(ConfigError, match=r"pip install 'modomodo\[vllm\]'"):
        vllm_generation.choose_engine("vllm", "cuda")
    monkeypatch.setattr(vllm_generation.importlib.util, "find_spec", lambda name: object())
    assert vllm_generation.choose_engine("auto", "cuda") == "vllm"
    with pytest.raises(ConfigError, match="needs the policy on a GPU, it is on cpu"):
        vllm_generation.choose_engine("vllm", "cpu")


def test_vllm_gets_the_prompt_hf_generate_tokenizes(tmp_path):
    from modomodo.config import load_config
    from modomodo.loading import load_rows
    from modomodo_plugins.trl_grpo.vllm_generation import prompts

    config = load_config("examples/quickstart.toml")
    policy = get_component("trainers", "trl-grpo").base_policy(config.model, tmp_path)
    rows = load_rows("spatial", config.domains["spatial"], seed=0, limit=2)
    built = prompts(policy, rows)
    from trl.data_utils import prepare_multimodal_messages

    from modomodo_plugins.trl_grpo.generation import conversation

    hf = policy.processor.apply_chat_template(
        [prepare_multimodal_messages(conversation(rows[0]), images=[rows[0]["image"]])],
        add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    # vLLM expands the one image placeholder to the image's tokens itself, as the processor does
    expanded = policy.processor(text=[built[0]["prompt"]], images=[built[0]["multi_modal_data"]["image"]],
                                return_tensors="pt")
    assert expanded["input_ids"].tolist() == hf["input_ids"].tolist()
    assert built[1]["multi_modal_data"]["image"] is rows[1]["image"]
