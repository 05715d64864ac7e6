"""Evaluation through vLLM's offline engine, for real models on a GPU (``eval.engine``).

``auto`` uses vLLM when it is installed and the policy is on a GPU, and HF ``generate`` otherwise; ``vllm``
insists. The prompt is the same chat-template text the HF path tokenizes, with the image passed as
vLLM's ``multi_modal_data``. vLLM reads weights from a directory, so a trained policy held in memory is
saved to a temporary one first; the engine is built once per policy and kept on it.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

from modomodo import ConfigError, GenerateRequest

from .checkpoints import Policy
from .generation import conversation

GPU_MEMORY_SHARE = 0.5  # the trained policy still holds its share of the GPU beside the engine


def choose_engine(setting: str, device: str) -> str:
    """``"hf"`` or ``"vllm"`` for ``eval.engine`` = ``auto`` / ``hf`` / ``vllm`` on ``device``."""
    if setting == "hf":
        return "hf"
    installed = importlib.util.find_spec("vllm") is not None
    if setting == "vllm":
        if not installed:
            raise ConfigError("eval.engine: 'vllm' needs vLLM: pip install 'modomodo[vllm]' on a GPU machine "
                              "(docs/trainer.md), or set eval.engine = 'hf'")
        if device != "cuda":
            raise ConfigError(f"eval.engine: 'vllm' needs the policy on a GPU, it is on {device}; "
                              "set eval.engine = 'auto' or 'hf'")
        return "vllm"
    if setting != "auto":
        raise ConfigError(f"eval.engine: expected 'auto', 'hf' or 'vllm', got {setting!r}")
    return "vllm" if installed and device == "cuda" else "hf"


def prompts(policy: Policy, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """vLLM's prompt dicts: the chat-template text GRPO trained on, and the row's image."""
    from trl.data_utils import prepare_multimodal_messages

    built = []
    for row in rows:
        images = [row["image"]] if row.get("image") is not None else []
        text = policy.processor.apply_chat_template(
            prepare_multimodal_messages(conversation(row), images=images), add_generation_prompt=True, tokenize=False
        )
        built.append({"prompt": text, **({"multi_modal_data": {"image": images[0]}} if images else {})})
    return built


def generate_with_vllm(policy: Policy, rows: Sequence[dict[str, Any]], request: GenerateRequest) -> list[list[str]]:
    from vllm import SamplingParams

    sampled = request.mode == "sampled"
    params = SamplingParams(
        n=request.samples if sampled else 1,
        temperature=request.temperature if sampled else 0.0,
        top_p=1.0,
        max_tokens=request.max_new_tokens,
        seed=request.seed,
    )
    outputs = _engine(policy).generate(prompts(policy, rows), params, use_tqdm=False)
    return [[choice.text for choice in output.outputs] for output in outputs]


def _engine(policy: Policy):
    if policy.engine is None:
        from vllm import LLM

        directory = tempfile.mkdtemp(prefix="modomodo-vllm-")
        try:
            policy.model.save_pretrained(directory)
            policy.processor.save_pretrained(directory)
            policy.engine = LLM(
                model=directory, dtype=str(policy.model.dtype).removeprefix("torch."),
                limit_mm_per_prompt={"image": 1}, gpu_memory_utilization=GPU_MEMORY_SHARE, enforce_eager=True,
            )
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    return policy.engine
