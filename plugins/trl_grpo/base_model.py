"""The embedded base model: built once by ``modomodo build-base``, shipped with the package.

A freshly initialised model cannot follow the answer format or see, so GRPO would see zero
reward everywhere. The build plays the part of a real VLM's pretraining and instruction
tuning: supervised fine-tuning on fresh rows of the testbed's ``warmup`` split (reference
completions ``<think>..</think><answer>..</answer>``), mostly ``synth-perception`` (naming
what is where, in many answer forms) and a little of each training domain's question forms.
It is long (tens of thousands of steps), so it runs outside any study: resumable from its
work directory, then exported as safetensors with the tokenizer, the processor config, the
recipe and a checksum of every file. The quickstart loads the exported copy shipped in
``embedded_base/``; a user can rebuild it, or build a bigger one, with the same command and
point ``model.path`` at the result.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

from modomodo import ConfigError, LoadRequest, get_component

from .tiny_model import SIZES, build_model, model_size
from .tokenizer import TAG_TOKENS, train_tokenizer

SHIPPED = Path(__file__).parent / "embedded_base"
CHECKSUMS = "SHA256SUMS"
RECIPE = "recipe.json"
TRAINING_SOURCES = ("synth-detect", "synth-ground", "synth-geometry", "synth-spatial", "synth-science")
# The base's pretraining stand-in: naming what is where (colour, shape, count, position, a box, yes/no,
# either-or) on the same grid scenes, never a training domain's or a benchmark's question.
PERCEPTION_SOURCE = "synth-perception"
BENCHMARK_SOURCES = ("synth-chart", "synth-count", "synth-compose")


@attrs.frozen(kw_only=True)
class Recipe:
    """Every setting of a build; the same recipe gives the same weights on one thread."""

    size: str = attrs.field(default="tiny")
    vocab_size: int = attrs.field(default=1024, validator=attrs.validators.ge(300))
    min_pixels: int = 56 * 56
    max_pixels: int = 112 * 112
    sources: tuple[str, ...] = attrs.field(default=TRAINING_SOURCES, converter=tuple)
    perception_share: float = attrs.field(default=0.6, validator=[attrs.validators.ge(0), attrs.validators.le(1)])
    steps: int = attrs.field(default=20000, validator=attrs.validators.ge(1))
    batch_size: int = attrs.field(default=32, validator=attrs.validators.ge(1))
    learning_rate: float = attrs.field(default=3e-3, validator=attrs.validators.gt(0))
    warmup_steps: int = attrs.field(default=200, validator=attrs.validators.ge(0))
    chunk_steps: int = attrs.field(default=50, validator=attrs.validators.ge(1))
    checkpoint_every: int = attrs.field(default=500, validator=attrs.validators.ge(1))
    eval_every: int = attrs.field(default=2000, validator=attrs.validators.ge(1))
    eval_rows: int = attrs.field(default=64, validator=attrs.validators.ge(1))
    eval_sources: tuple[str, ...] = attrs.field(default=BENCHMARK_SOURCES, converter=tuple)
    seed: int = 0

    @size.validator
    def _known_size(self, attribute, value):
        if value not in SIZES:
            raise ValueError(f"size: expected one of {', '.join(map(repr, SIZES))}, got {value!r}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Recipe:
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"build-base: unknown setting(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
        try:
            recipe = cls(**options)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"build-base: {error}") from None
        if recipe.checkpoint_every % recipe.chunk_steps:
            raise ConfigError(f"build-base: checkpoint_every ({recipe.checkpoint_every}) must be a multiple of "
                              f"chunk_steps ({recipe.chunk_steps}), so that a resumed build draws the same rows")
        return recipe


def shipped_base() -> Path:
    """The base shipped with the package, after checking it against its recorded checksums."""
    problems = verify(SHIPPED)
    if problems:
        raise ConfigError(f"the shipped embedded base in {SHIPPED} is damaged ({'; '.join(problems)}); "
                          "reinstall modomodo or rebuild it with `modomodo build-base`")
    return SHIPPED


def verify(directory: Path) -> list[str]:
    """What differs between ``directory`` and its SHA256SUMS (empty when all is well)."""
    listing = directory / CHECKSUMS
    if not listing.is_file():
        return [f"no {CHECKSUMS}"]
    problems = []
    for line in listing.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        path = directory / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif _sha256(path) != digest:
            problems.append(f"{name} does not match its checksum")
    return problems


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------------------------
# The build: resumable from its work directory, one torch thread


def build(recipe: Recipe, workdir: Path, output: Path, progress: Callable[[str, int, int, str], None] | None = None) -> dict:
    """Train (or resume) the base in ``workdir``, then export it to ``output``; returns the recipe record.

    Always on one torch thread: the thread count changes the order of float sums, and with it the
    weights, so one thread makes a build reproducible on machines with the same instruction set.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        state = _train(recipe, Path(workdir), progress or (lambda *a: None))
        return _export(recipe, state, Path(output))
    finally:
        torch.set_num_threads(threads)


def chunk_rows(recipe: Recipe, chunk: int) -> list[dict[str, Any]]:
    """The fresh rows of one chunk (``chunk_steps`` x ``batch_size``), in training order.

    A pure function of (recipe, chunk): each source's ``warmup`` rows drawn with a chunk-specific seed,
    so rows never repeat between chunks and a resumed build sees exactly what a straight one did.
    """
    counts: dict[str, int] = {}
    for name in chunk_sources(recipe, chunk):
        counts[name] = counts.get(name, 0) + 1
    rows = []
    for name, count in counts.items():
        if not count:
            continue
        source = get_component("datasets", name)
        if "warmup" not in source.splits:
            raise ConfigError(f"build-base: source {name!r} has no 'warmup' split")
        seed = recipe.seed * 1_000_003 + chunk
        loaded = source.load(LoadRequest(split="warmup", limit=count, seed=seed, options={"size": count}))
        missing = [i for i, row in enumerate(loaded) if not row.get("reference")]
        if missing:
            raise ConfigError(f"build-base: source {name!r} warmup rows lack a 'reference' completion (row {missing[0]})")
        rows.extend(loaded)
    random.Random(f"build-base/{recipe.seed}/{chunk}/order").shuffle(rows)
    return rows


def _train(recipe: Recipe, workdir: Path, progress) -> dict:
    import torch

    from .processor import build_processor

    workdir.mkdir(parents=True, exist_ok=True)
    _check_same_recipe(recipe, workdir)
    tokenizer_dir = workdir / "tokenizer"
    if not (tokenizer_dir / "tokenizer.json").is_file():
        tokenizer = train_tokenizer(_corpus(chunk_rows(recipe, 0)), recipe.vocab_size)
        tokenizer.save_pretrained(tokenizer_dir)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    processor = build_processor(tokenizer, recipe.min_pixels, recipe.max_pixels)
    model = build_model(model_size(recipe.size), tokenizer, recipe.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(recipe, step))
    state = {"step": 0, "seconds": 0.0, "losses": [], "evals": [], "rows": 0}
    checkpoint = workdir / "checkpoint.pt"
    if checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        state = saved["state"]
    model.train()
    started = time.monotonic() - state["seconds"]
    while state["step"] < recipe.steps:
        chunk = state["step"] // recipe.chunk_steps
        rows = chunk_rows(recipe, chunk)
        examples = [sft_example(processor, row) for row in rows]
        for offset in range(0, len(examples), recipe.batch_size):
            if state["step"] >= recipe.steps:
                break
            loss = model(**collate(examples[offset: offset + recipe.batch_size], tokenizer.pad_token_id)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            state["step"] += 1
            state["rows"] += recipe.batch_size
            state["losses"].append(round(loss.item(), 4))
            progress("train", state["step"], recipe.steps, f"loss {sum(state['losses'][-50:]) / len(state['losses'][-50:]):.3f}")
        step = state["step"]
        if step % recipe.eval_every == 0 or step == recipe.steps:
            model.eval()
            scores = held_out_accuracy(model, processor, recipe.eval_rows, _eval_sources(recipe))
            state["evals"].append({"step": step, "accuracy": scores})
            model.train()
            progress("eval", step, recipe.steps, json.dumps(state["evals"][-1]["accuracy"]))
        if step % recipe.checkpoint_every == 0 or step == recipe.steps:
            state["seconds"] = time.monotonic() - started
            _atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "schedule": schedule.state_dict(), "state": state}, checkpoint)
    model.eval()
    state["model"], state["processor"] = model, processor
    return state


def _lr_factor(recipe: Recipe, step: int) -> float:
    """Linear warm-up, then a cosine decay to a tenth of the peak."""
    if step < recipe.warmup_steps:
        return (step + 1) / recipe.warmup_steps
    done = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))


def _check_same_recipe(recipe: Recipe, workdir: Path) -> None:
    """A work directory belongs to one recipe: resuming with other settings would mix two builds."""
    recorded = workdir / RECIPE
    current = json.loads(json.dumps(attrs.asdict(recipe)))  # tuples as JSON lists, as recorded
    if recorded.is_file():
        before = json.loads(recorded.read_text())
        changed = sorted(key for key in current if before.get(key) != current[key])
        if changed:
            raise ConfigError(f"build-base: {workdir} holds a build with other settings ({', '.join(changed)}); "
                              "use another --workdir or delete it")
    else:
        recorded.write_text(json.dumps(current, indent=2))


def _atomic_save(payload: dict, path: Path) -> None:
    import torch

    partial = path.with_suffix(".partial")
    torch.save(payload, partial)
    os.replace(partial, path)


def _export(recipe: Recipe, state: dict, output: Path) -> dict:
    """safetensors + tokenizer + processor config + recipe.json, then SHA256SUMS over them all."""
    staging = output.with_name(output.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    state["model"].save_pretrained(staging)
    state["processor"].save_pretrained(staging)
    losses = state["losses"]
    record = {
        "recipe": attrs.asdict(recipe),
        "parameters": sum(p.numel() for p in state["model"].parameters()),
        "steps": state["step"],
        "rows_seen": state["rows"],
        "rows_per_source": _rows_per_source(recipe, state["step"]),
        "build_seconds": round(state["seconds"], 1),
        "final_loss": round(sum(losses[-200:]) / max(1, len(losses[-200:])), 4),
        "loss_every_500_steps": [round(sum(losses[i: i + 500]) / len(losses[i: i + 500]), 4) for i in range(0, len(losses), 500)],
        "held_out_accuracy": state["evals"],
        "versions": {name: _version(name) for name in ("torch", "transformers", "tokenizers", "modomodo")},
        "python": platform.python_version(),
        "machine": platform.machine(),
        "torch_threads": 1,
    }
    (staging / RECIPE).write_text(json.dumps(record, indent=2) + "\n")
    names = sorted(path.name for path in staging.iterdir() if path.is_file())
    (staging / CHECKSUMS).write_text("".join(f"{_sha256(staging / name)}  {name}\n" for name in names))
    shutil.rmtree(output, ignore_errors=True)
    os.replace(staging, output)
    return record


def _rows_per_source(recipe: Recipe, steps: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for chunk in range(math.ceil(steps / recipe.chunk_steps)):
        for name in chunk_sources(recipe, chunk):
            counts[name] = counts.get(name, 0) + 1
    return counts


def chunk_sources(recipe: Recipe, chunk: int) -> list[str]:
    """Which source each row of a chunk comes from: ``perception_share`` of them perception, the rest
    split evenly between the training sources."""
    shares = dict.fromkeys(recipe.sources, (1 - recipe.perception_share) / max(1, len(recipe.sources)))
    if recipe.perception_share:
        shares[PERCEPTION_SOURCE] = recipe.perception_share
    rng = random.Random(f"build-base/{recipe.seed}/{chunk}")
    return rng.choices(list(shares), weights=list(shares.values()), k=recipe.chunk_steps * recipe.batch_size)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


# ----------------------------------------------------------------------------------------------------------
# Held-out accuracy while building: greedy answers on test rows, exact match of the answer text


def _eval_sources(recipe: Recipe) -> list[str]:
    """What the build was trained on, then the benchmarks it was not."""
    perception = [PERCEPTION_SOURCE] if recipe.perception_share else []
    return [*recipe.sources, *perception, *recipe.eval_sources]


def held_out_accuracy(model, processor, rows: int, sources: Sequence[str]) -> dict[str, float]:
    """Greedy score per source on its first ``rows`` test rows: ``exact``/``choice`` for short answers and
    letters, ``iou-mean`` for boxes (whichever the registered verifiers offer)."""
    from modomodo import GenerateRequest

    from .checkpoints import Policy
    from .generation import generate_answers

    policy = Policy(model=model, processor=processor)
    request = GenerateRequest(mode="greedy", max_new_tokens=48, batch_size=64)
    scores = {}
    for name in sources:
        test = get_component("datasets", name).load(LoadRequest(split="test", limit=rows, seed=0))
        answers = generate_answers(policy, test, request)
        total = sum(_verifier(row)(answer[0], row) for answer, row in zip(answers, test))
        scores[name] = round(total / len(test), 3)
    return scores


def _verifier(row: Mapping[str, Any]):
    if row["solution"].startswith("<answer>[{"):
        return get_component("verifiers", "iou-mean")
    if "\nOptions:\n" in row["problem"]:
        return get_component("verifiers", "choice")
    return get_component("verifiers", "exact")


# ----------------------------------------------------------------------------------------------------------
# SFT examples, shared with nothing else: prompt tokens exactly as GRPO renders them


def _corpus(rows: Sequence[dict[str, Any]]):
    from .tokenizer import CHAT_TEMPLATE

    yield CHAT_TEMPLATE
    yield " ".join(TAG_TOKENS)
    for row in rows:
        yield row["problem"]
        yield row["reference"]


def sft_example(processor, row: dict[str, Any]) -> dict[str, Any]:
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


def collate(batch: Sequence[dict[str, Any]], pad_id: int) -> dict[str, Any]:
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
