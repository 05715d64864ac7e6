"""The embedded model's warm start: supervised fine-tuning on the testbed's ``warmup`` pool.

A freshly initialised model cannot follow the answer format, so GRPO would see zero reward
everywhere. The warm start plays the part of instruction tuning: a short SFT on reference
completions (``<think>..</think><answer>..</answer>``) from a pool kept apart from the
training and test splits, leaving the base policy on-format and partly right, as
Qwen2-VL-2B-Instruct is on the real data. The base does not depend on a study's domains
(a real base model does not either): it is trained on the sources listed in its settings.

The result is a ``save_pretrained`` directory under ``$MODOMODO_CACHE`` (default
``~/.cache/modomodo``), keyed by a hash of its settings; it is built once, under a file
lock so that parallel trials wait for one build, and reused after.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from modomodo import ConfigError, LoadRequest, get_component

from .tiny_model import SIZES, build_model, model_size
from .tokenizer import TAG_TOKENS, train_tokenizer

WARM_START_VERSION = 4  # 2: the testbed's grey background; 3: perception rows; 4: always one thread
TESTBED_SOURCES = ("synth-detect", "synth-ground", "synth-geometry", "synth-spatial", "synth-science")
# One-look questions (colour, shape, count of 1-3, left or right) with balanced answers: the stand-in for a
# real base model's pretrained perception. Without them the warm start learned only each question type's
# text prior and scored the same with a blank image (docs/trainer.md).
PERCEPTION_SOURCE = "synth-perception"


@attrs.frozen(kw_only=True)
class EmbeddedSettings:
    """``[model.options]`` of the embedded model; every key has a measured default (docs/trainer.md)."""

    size: str = attrs.field(default="tiny", validator=attrs.validators.in_(tuple(SIZES)))
    vocab_size: int = 1024
    min_pixels: int = 56 * 56
    max_pixels: int = 112 * 112
    warm_start_sources: tuple[str, ...] = attrs.field(default=TESTBED_SOURCES, converter=tuple)
    warm_start_rows: int = 600
    warm_start_perception_weight: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    warm_start_steps: int = 600
    warm_start_batch_size: int = 32
    warm_start_learning_rate: float = 3e-3
    warm_start_seed: int = 0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> EmbeddedSettings:
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"model.options: unknown key(s) {', '.join(unknown)} for the embedded model; "
                f"expected some of {', '.join(sorted(known))}"
            )
        try:
            return cls(**options)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"model.options: {error}") from None

    def key(self) -> str:
        """A short hash of everything that changes the warm-started weights."""
        from transformers import __version__ as transformers_version

        data = attrs.asdict(self) | {"version": WARM_START_VERSION, "transformers": transformers_version}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def cache_root() -> Path:
    return Path(os.environ.get("MODOMODO_CACHE") or Path.home() / ".cache" / "modomodo")


def warm_start_path(settings: EmbeddedSettings, progress=None) -> Path:
    """The warm-started checkpoint directory for ``settings``, built on first use."""
    target = cache_root() / "tiny-qwen2vl" / settings.key()
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "config.json").is_file():
            building = target.parent / f"{target.name}.building-{os.getpid()}"
            shutil.rmtree(building, ignore_errors=True)
            build_warm_start(settings, building, progress)
            os.replace(building, target)
    return target


def warmup_rows(settings: EmbeddedSettings) -> tuple[list[dict[str, Any]], list[int]]:
    """The SFT pool: ``warmup`` rows (with a ``reference`` completion) of each listed source and of the
    perception source, and each row's sampling weight (perception's makes it about half of all SFT examples)."""
    weights = dict.fromkeys(settings.warm_start_sources, 1)
    if settings.warm_start_perception_weight:
        weights[PERCEPTION_SOURCE] = settings.warm_start_perception_weight
    rows, row_weights = [], []
    for name, weight in weights.items():
        source = get_component("datasets", name)
        if "warmup" not in source.splits:
            raise ConfigError(f"model.options.warm_start_sources: source {name!r} has no 'warmup' split")
        loaded = list(source.load(LoadRequest(split="warmup", limit=settings.warm_start_rows, seed=settings.warm_start_seed)))
        missing = [i for i, row in enumerate(loaded) if not row.get("reference")]
        if missing:
            raise ConfigError(f"warm start: source {name!r} warmup rows lack a 'reference' completion (row {missing[0]})")
        rows.extend(loaded)
        row_weights.extend([weight] * len(loaded))
    return rows, row_weights


def build_warm_start(settings: EmbeddedSettings, directory: Path, progress=None) -> None:
    """Train the tokenizer, build the model, run SFT on the warmup pool, save all three.

    Always on one torch thread: the thread count changes the order of float sums, and with it the
    weights (by up to 0.1 after 600 steps), while the cache key cannot see it. On one thread the same
    settings give the same base on machines with the same CPU instruction set, and it is the fastest
    for this model anyway.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _supervised_warm_start(settings, directory, progress)
    finally:
        torch.set_num_threads(threads)


def _supervised_warm_start(settings: EmbeddedSettings, directory: Path, progress=None) -> None:
    import torch

    from .processor import build_processor

    started = time.monotonic()
    rows, weights = warmup_rows(settings)
    tokenizer = train_tokenizer(_corpus(rows), settings.vocab_size)
    processor = build_processor(tokenizer, settings.min_pixels, settings.max_pixels)
    model = build_model(model_size(settings.size), tokenizer, settings.warm_start_seed)
    examples = [_sft_example(processor, row) for row in rows]
    torch.manual_seed(settings.warm_start_seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.warm_start_learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 20) * (1 - step / settings.warm_start_steps)
    )
    rng = random.Random(settings.warm_start_seed)
    pool = [index for index, weight in enumerate(weights) for _ in range(weight)]
    order: list[int] = []
    losses: list[float] = []
    model.train()
    with _progress_bar(progress, settings.warm_start_steps) as advance:
        for step in range(settings.warm_start_steps):
            if len(order) < settings.warm_start_batch_size:
                order.extend(rng.sample(pool, len(pool)))
            batch = [examples[order.pop()] for _ in range(settings.warm_start_batch_size)]
            loss = model(**_collate(batch, tokenizer.pad_token_id)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            advance(losses[-1])
    model.eval()
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    tail = losses[-20:]
    info = {
        "settings": attrs.asdict(settings),
        "rows": len(rows),
        "examples_per_epoch": len(pool),
        "seconds": time.monotonic() - started,
        "final_loss": sum(tail) / len(tail),
    }
    (directory / "warm_start.json").write_text(json.dumps(info, indent=2))


def _corpus(rows: Sequence[dict[str, Any]]):
    from .tokenizer import CHAT_TEMPLATE

    yield CHAT_TEMPLATE
    yield " ".join(TAG_TOKENS)
    for row in rows:
        yield row["problem"]
        yield row["reference"]


def _sft_example(processor, row: dict[str, Any]) -> dict[str, Any]:
    """Prompt tokens exactly as GRPO renders them, then the reference and end-of-turn as targets."""
    from trl.data_utils import prepare_multimodal_messages

    messages = prepare_multimodal_messages([{"role": "user", "content": row["problem"]}], images=[row["image"]])
    prompt = processor.apply_chat_template(
        [messages], add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    target = processor.tokenizer(row["reference"] + processor.tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    return {
        "prompt_ids": prompt["input_ids"][0].tolist(),
        "mm_token_type_ids": prompt["mm_token_type_ids"][0].tolist(),
        "target_ids": target,
        "pixel_values": prompt["pixel_values"],
        "image_grid_thw": prompt["image_grid_thw"],
    }


def _collate(batch: Sequence[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Right-padded prompt + target sequences; the loss sees only target tokens."""
    import torch

    length = max(len(e["prompt_ids"]) + len(e["target_ids"]) for e in batch)
    input_ids = torch.full((len(batch), length), pad_id)
    labels = torch.full((len(batch), length), -100)
    attention = torch.zeros((len(batch), length), dtype=torch.long)
    token_types = torch.zeros((len(batch), length), dtype=torch.long)
    for i, e in enumerate(batch):
        ids = e["prompt_ids"] + e["target_ids"]
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, len(e["prompt_ids"]) : len(ids)] = torch.tensor(e["target_ids"])
        attention[i, : len(ids)] = 1
        token_types[i, : len(e["mm_token_type_ids"])] = torch.tensor(e["mm_token_type_ids"])
    return {
        "input_ids": input_ids,
        "attention_mask": attention,
        "labels": labels,
        "mm_token_type_ids": token_types,
        "pixel_values": torch.cat([e["pixel_values"] for e in batch]),
        "image_grid_thw": torch.cat([e["image_grid_thw"] for e in batch]),
    }


class _progress_bar:
    """A rich progress bar on stderr, or the caller's ``progress("warm-start", done, total)``."""

    def __init__(self, progress, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def __enter__(self):
        if self.progress is not None:
            return self._report
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("warm start (tiny-qwen2vl, built once)"), BarColumn(), TextColumn("{task.fields[loss]}"),
            TimeRemainingColumn(), console=Console(stderr=True), transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task("warm-start", total=self.total, loss="")
        return self._advance

    def _report(self, loss: float) -> None:
        self.done += 1
        self.progress("warm-start", self.done, self.total)

    def _advance(self, loss: float) -> None:
        self.bar.update(self.task, advance=1, loss=f"loss {loss:.3f}" if math.isfinite(loss) else "")

    def __exit__(self, *exc):
        if self.progress is None:
            self.bar.stop()
        return False
