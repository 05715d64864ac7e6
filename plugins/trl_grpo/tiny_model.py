"""The embedded ``tiny-qwen2vl``: the Qwen2-VL architecture built from a config, no download.

Sizes are named presets of ``modomodo build-base``; ``tiny`` is the shipped base because
the quickstart needs eighteen trials (train + evaluate) in ten minutes on two CPU cores
(docs/trainer.md has the measurements behind the choice).
"""

from __future__ import annotations

from typing import Any

import attrs

from modomodo import ConfigError


@attrs.frozen
class ModelSize:
    """Width and depth of the text and vision towers."""

    hidden: int
    layers: int
    heads: int
    vision_width: int
    vision_depth: int
    vision_heads: int
    kv_heads: int | None = None  # grouped-query attention; None: as many as ``heads``
    intermediate: int | None = None  # the MLP width; None: 3 x ``hidden``
    vision_mlp_ratio: int = 2
    vocab: int | None = None  # None: the tokenizer's; larger pads the embedding to a real model's
    mrope_section: tuple[int, int, int] | None = None  # rotary dims for (time, height, width); None: (0, 1/4, 1/4)


SIZES = {
    # The vision tower is wider and deeper than the text one: it runs once per image and is frozen in GRPO,
    # so it costs little (13% of a supervised step, nothing measurable in generation), and at width 32
    # it could not tell a circle from a square after 2,000 steps.
    "tiny": ModelSize(hidden=64, layers=2, heads=4, vision_width=64, vision_depth=4, vision_heads=4),
    "small": ModelSize(hidden=128, layers=3, heads=4, vision_width=64, vision_depth=2, vision_heads=4),
    "larger": ModelSize(hidden=256, layers=4, heads=8, vision_width=128, vision_depth=4, vision_heads=4),
    # Qwen2-VL-2B-Instruct's shapes (2.2 B parameters), for GPU checks with random weights (benchmarks/gpu_check.py).
    "qwen2-vl-2b": ModelSize(hidden=1536, layers=28, heads=12, kv_heads=2, intermediate=8960, vision_width=1280,
                             vision_depth=32, vision_heads=16, vision_mlp_ratio=4, vocab=151936,
                             mrope_section=(16, 24, 24)),
}


def model_size(name: str) -> ModelSize:
    if name not in SIZES:
        raise ConfigError(f"model.options.size: expected one of {', '.join(map(repr, SIZES))}, got {name!r}")
    return SIZES[name]


def build_model(size: ModelSize, tokenizer, seed: int) -> Any:
    """A randomly initialised Qwen2VLForConditionalGeneration whose vocabulary matches ``tokenizer``."""
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    head_dim = size.hidden // size.heads
    quarter = head_dim // 4
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": max(len(tokenizer), size.vocab or 0),
            "hidden_size": size.hidden,
            "intermediate_size": size.intermediate or size.hidden * 3,
            "num_hidden_layers": size.layers,
            "num_attention_heads": size.heads,
            "num_key_value_heads": size.kv_heads or size.heads,
            "max_position_embeddings": 2048,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": list(size.mrope_section or (head_dim // 2 - 2 * quarter, quarter, quarter)),
            },
            "bos_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "depth": size.vision_depth,
            "embed_dim": size.vision_width,
            "hidden_size": size.hidden,
            "num_heads": size.vision_heads,
            "mlp_ratio": size.vision_mlp_ratio,
        },
        image_token_id=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tokenizer.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.pad_token_id
    return model
