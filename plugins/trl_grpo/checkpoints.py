"""Loading a policy from a checkpoint directory, the same way for the tiny model and a real one.

A real ``model.path`` (Qwen2-VL, Qwen2.5-VL, ...) loads with the Auto classes, in bf16 on a
GPU when one is present, and runs no code from the checkpoint unless
``model.trust_remote_code`` is on. The shipped embedded base is read
through exactly this path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from modomodo import ConfigError


@attrs.define
class Policy:
    """A model with its processor; ``path`` is where it was read from, when it was."""

    model: Any
    processor: Any
    path: Path | None = None
    engine: Any = None  # a vLLM engine over this model, once evaluation has built one

    @property
    def tokenizer(self):
        return self.processor.tokenizer


def resolve_device(setting: str) -> str:
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError("model.device: 'cuda' was asked for but torch sees no GPU; use 'auto' or 'cpu'")
    return setting


def resolve_dtype(setting: str, device: str):
    """``auto`` means bf16 on a GPU that supports it, float32 on CPU (bf16 matmuls are slow there)."""
    import torch

    if setting == "auto":
        if device == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, setting)


def load_policy(path: str | Path, model_config: Any) -> Policy:
    """Read a checkpoint directory written by ``save_pretrained`` (or downloaded beforehand)."""
    from transformers import AutoModelForImageTextToText
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a bar per load is noise beside the study's own progress

    path = Path(path).expanduser()
    if not (path / "config.json").is_file():
        raise ConfigError(f"model.path: {path} is not a model directory (no config.json in it)")
    device = resolve_device(model_config.device)
    options = dict(model_config.options)
    processor = load_processor(path, model_config.trust_remote_code, options)
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            path, dtype=resolve_dtype(model_config.dtype, device), trust_remote_code=model_config.trust_remote_code
        )
    except ValueError as error:
        raise ConfigError(f"model.path: {path}: cannot load an image-text model: {error}") from None
    return Policy(model=model.to(device), processor=processor, path=path)


def load_processor(path: Path, trust_remote_code: bool, options: dict[str, Any]):
    """AutoProcessor, or an image-only processor when the stock one cannot be built here.

    Qwen2-VL's stock processor builds a video processor that needs torchvision; without it
    (or when AutoProcessor falls back to the bare tokenizer) the tokenizer and the PIL
    image processor are combined into the image-only subclass.
    """
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    from .processor import processor_class, register_processor

    register_processor()
    pixels = {key: options[key] for key in ("min_pixels", "max_pixels") if key in options}
    try:
        processor = AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code, **pixels)
    except ImportError:
        processor = None
    if processor is not None and hasattr(processor, "image_processor"):
        return processor
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    image_processor = AutoImageProcessor.from_pretrained(path, trust_remote_code=trust_remote_code, **pixels)
    return processor_class()(image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template)
