"""The ``trl-grpo`` trainer: GRPO with TRL on a data mixture, and answers for evaluation.

``train`` realises the mixture as a fixed prompt order (sampling.py), hands it to
``trl.GRPOTrainer`` with shuffling off, routes each completion to its own domain's reward
(rewards.py), and returns the trained policy in memory with what the run measured.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modomodo import ConfigError, GenerateRequest, TrainOutcome, TrainRequest, TrialError

from .checkpoints import Policy, load_policy, resolve_device, resolve_dtype
from .generation import conversation, generate_answers
from .rewards import DomainRouter
from .sampling import Draw, domain_counts, draw_sequence
from .vllm_generation import choose_engine, generate_with_vllm


CHECKPOINT_OPTIONS = {"min_pixels", "max_pixels"}


class TrlGrpoTrainer:
    name = "trl-grpo"
    description = "GRPO with TRL's GRPOTrainer; embedded tiny-qwen2vl or a local Qwen2-VL checkpoint"
    partial_runs = True  # stops at a fraction of the run and continues from a Trainer checkpoint (RESUME_DIR)
    # What a trial imports lazily (4.5 s against 2.2 s for a 2-step trial in a fresh process): imported once
    # by the fork server that starts child trials.
    preload = ("trl.trainer.grpo_trainer", "transformers.processing_utils", "transformers.image_processing_utils",
               "transformers.models.qwen2_vl.modeling_qwen2_vl", "datasets")

    def launch_command(self, processes: int, config_file: str | None) -> list[str]:
        """``accelerate launch``: one process per device (torchrun underneath; gloo on CPU), each on its own
        port so that two trials can share a node; a user's accelerate config (DeepSpeed, FSDP) as given."""
        command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes),
                   "--num_machines", "1", "--main_process_port", str(_free_port())]
        if config_file is not None:
            return [*command, "--config_file", config_file]
        return [*command, "--multi_gpu", "--dynamo_backend", "no"]

    def check_config(self, config: Any) -> list[str]:
        """What would fail every trial, found before the first one: the model's keys, ``train.options`` that
        GRPOConfig does not take (or that modomodo sets itself), an update that cannot be split."""
        problems = model_problems(config.model)
        from trl import GRPOConfig

        fields = {field.name for field in dataclasses.fields(GRPOConfig)}
        for key in config.train.options:
            if key in SET_BY_MODOMODO:
                problems.append(f"train.options.{key}: set by modomodo from {SET_BY_MODOMODO[key]}; set that instead")
            elif key not in fields:
                close = difflib.get_close_matches(key, sorted(fields), n=1)
                problems.append(f"train.options.{key}: not a GRPOConfig setting of TRL {_trl_version()}"
                                + (f"; did you mean {close[0]!r}?" if close else ""))
        parts = config.executor.processes * config.train.gradient_accumulation_steps
        if config.train.batch_size % parts:
            problems.append(f"train.batch_size: {config.train.batch_size} completions an update cannot be split over "
                            f"executor.processes = {config.executor.processes} x gradient_accumulation_steps = "
                            f"{config.train.gradient_accumulation_steps}; expected a multiple of {parts}")
        return problems

    def base_policy(self, model: Any, workdir: Path, progress=None) -> Policy:
        """The shipped embedded base (``model.embedded``) or the checkpoint at ``model.path``."""
        problems = model_problems(model)
        if problems:
            raise ConfigError("; ".join(problems))
        if model.embedded is not None:
            from .base_model import shipped_base

            _one_thread_unless_asked()
            return load_policy(shipped_base(), model)
        return load_policy(model.path, model)

    def train(self, request: TrainRequest) -> TrainOutcome:
        started = time.monotonic()
        cfg = request.train
        resume = request.workdir / RESUME_DIR
        checkpoint = resume if (resume / "trainer_state.json").is_file() else None
        policy = self.base_policy(request.model, request.workdir, request.progress)  # also the KL reference
        rows, sequence = training_stream(request)
        dataset = prompt_dataset(rows, sequence)
        steps = len(sequence) * cfg.num_generations // cfg.batch_size
        stop = stop_step(request.until, steps)
        trainer = _grpo_trainer(request, policy, dataset, rows, steps, stop)
        _train_from(trainer, checkpoint, stop, request.model, merged=cfg.lora is None)
        trainer.accelerator.wait_for_everyone()  # every rank has written its part of the checkpoint
        if trainer.accelerator.is_main_process:
            _keep_resume_state(request.workdir, stop if stop < steps else None)
        trainer.accelerator.wait_for_everyone()  # no rank starts the next part before the checkpoint is in place
        model = trainer.model
        if cfg.lora is not None:
            model = model.merge_and_unload()
        trained = Policy(model=model, processor=policy.processor)
        if cfg.save_checkpoint and trainer.accelerator.is_main_process:
            checkpoint = request.workdir / "checkpoint"
            model.save_pretrained(checkpoint)
            policy.processor.save_pretrained(checkpoint)
            trained.path = checkpoint
        metrics = training_metrics(trainer.state.log_history, rows, sequence, steps)
        metrics["steps"], metrics["total_steps"] = trainer.state.global_step, steps
        metrics["train_seconds"] = time.monotonic() - started
        metrics["processes"] = trainer.accelerator.num_processes
        return TrainOutcome(policy=trained, metrics=metrics)

    def generate(self, policy: Any, rows: Sequence[dict[str, Any]], request: GenerateRequest) -> list[list[str]]:
        if not isinstance(policy, Policy):
            raise TypeError(f"trl-grpo cannot answer with {type(policy).__name__}; pass its base_policy or train result")
        if choose_engine(request.engine, policy.model.device.type) == "vllm":
            return generate_with_vllm(policy, rows, request)
        return generate_answers(policy, rows, request)


# GRPOConfig settings modomodo derives from its own config: given again in train.options they would clash.
SET_BY_MODOMODO = {
    "output_dir": "the trial's folder", "max_steps": "train.steps", "per_device_train_batch_size": "train.batch_size",
    "gradient_accumulation_steps": "train.gradient_accumulation_steps", "num_generations": "train.num_generations",
    "learning_rate": "train.learning_rate", "warmup_steps": "train.warmup_ratio", "beta": "train.beta",
    "temperature": "train.temperature", "max_completion_length": "train.max_completion_length",
    "seed": "the trial seed", "logging_steps": "train.logging_steps", "report_to": "train.report_to",
    "use_cpu": "model.device", "bf16": "model.dtype", "shuffle_dataset": "the mixture's draw order",
    "lr_scheduler_type": "modomodo (linear)", "save_strategy": "train.save_checkpoint",
    "activation_checkpointing": "modomodo (off)", "remove_unused_columns": "modomodo", "disable_tqdm": "modomodo",
}


def model_problems(model: Any) -> list[str]:
    """``[model]`` keys this trainer cannot use: unknown options, another embedded model, a missing checkpoint."""
    problems = []
    unknown = sorted(set(model.options) - CHECKPOINT_OPTIONS)
    if unknown:
        problems.append(f"model.options: unknown key(s) {', '.join(unknown)}; expected some of "
                        f"{', '.join(sorted(CHECKPOINT_OPTIONS))} (the embedded base is pre-built: "
                        "`modomodo build-base` makes another, which model.path then loads)")
    if model.embedded is not None and model.embedded != "tiny-qwen2vl":
        problems.append(f"model.embedded: expected 'tiny-qwen2vl', got {model.embedded!r}")
    if model.path is not None and not (Path(model.path).expanduser() / "config.json").is_file():
        problems.append(f"model.path: {model.path} is not a model directory (no config.json in it)")
    return problems


def _trl_version() -> str:
    from importlib.metadata import version

    return version("trl")


def _one_thread_unless_asked() -> None:
    """The tiny model's matrices are too small to gain from a second thread (26 s vs 27 s a trial on two
    quiet cores), and torch's spinning threads slow it tenfold when anything else shares the cores."""
    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)


def training_stream(request: TrainRequest) -> tuple[list[dict[str, Any]], list[int]]:
    """All rows in one list, and the realised prompt order as indices into it (whole updates only)."""
    cfg = request.train
    prompts_per_update = cfg.batch_size // cfg.num_generations
    weights = {name: request.mixture.get(name, 0.0) for name in request.domains}
    sizes = {name: len(data.rows) for name, data in request.domains.items()}
    draws = draw_sequence(weights, sizes, cfg.steps * prompts_per_update, request.seed, cfg.on_exhausted)
    whole = len(draws) // prompts_per_update * prompts_per_update
    if whole == 0:
        raise TrialError(
            f"mixture {dict(request.mixture)}: a domain ran out before one update "
            f"({prompts_per_update} prompts); give it more rows or set train.on_exhausted = 'repeat'"
        )
    rows: list[dict[str, Any]] = []
    offsets: dict[str, int] = {}
    for name, data in request.domains.items():
        offsets[name] = len(rows)
        rows.extend(data.rows)
    return rows, [offsets[draw.domain] + draw.index for draw in draws[:whole]]


def prompt_dataset(rows: Sequence[dict[str, Any]], sequence: list[int]):
    """The stream as a ``datasets.Dataset`` in draw order; prompt and image are attached on access.

    Only ``row_id`` is stored, so images are never encoded to Arrow and back.
    """
    from datasets import Dataset

    def attach(batch):
        return {
            "prompt": [conversation(rows[i]) for i in batch["row_id"]],
            "image": [rows[i]["image"] for i in batch["row_id"]],
            "row_id": batch["row_id"],
        }

    dataset = Dataset.from_dict({"row_id": sequence})
    dataset.set_transform(attach)
    return dataset


RESUME_DIR = "resume"  # in the trial's folder: the Trainer checkpoint a partial run continues from


def stop_step(until: float, steps: int) -> int:
    """The step a run asked to go ``until`` a fraction of its ``steps`` stops at (at least one)."""
    return min(steps, max(1, round(until * steps)))


def _train_from(trainer, checkpoint: Path | None, stop: int, model_config: Any, merged: bool) -> None:
    """Train from the start or from a partial run's ``checkpoint`` (to the step the trainer stops at)."""
    if checkpoint is None:
        trainer.train()
        return
    if merged:
        # transformers 5.23's Trainer reads the weights back without the key mapping save_pretrained applied
        # to Qwen2-VL and finds every key "missing": read them with from_pretrained, which applies it.
        def load_weights(*args, **kwargs):
            trainer.model.load_state_dict(load_policy(checkpoint, model_config).model.state_dict())

        trainer._load_from_checkpoint = load_weights
    saved = _saved_step(checkpoint)
    if saved < stop:
        trainer.train(resume_from_checkpoint=str(checkpoint))
    elif saved == stop:  # it stopped here before, and its process died before the evaluation there was kept
        from transformers import TrainerState

        trainer._load_from_checkpoint(str(checkpoint))
        trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    else:
        raise TrialError(f"{checkpoint} holds step {saved}, past the requested step {stop}")


def _saved_step(checkpoint: Path) -> int:
    import json

    return json.loads((checkpoint / "trainer_state.json").read_text())["global_step"]


def _keep_resume_state(workdir: Path, stopped_at: int | None) -> None:
    """Move the checkpoint a partial run saved at ``stopped_at`` to ``workdir/resume`` (replacing the last
    one), or, once the run is complete, delete what only continuing needed: optimizer states are large."""
    import shutil

    resume, saved = workdir / RESUME_DIR, workdir / "trl" / f"checkpoint-{stopped_at}"
    if stopped_at is not None and saved.exists():
        old = workdir / f".{RESUME_DIR}.old"
        if resume.exists():
            resume.rename(old)
        saved.rename(resume)
        shutil.rmtree(old, ignore_errors=True)
    elif stopped_at is None:
        shutil.rmtree(resume, ignore_errors=True)


def _grpo_trainer(request: TrainRequest, policy: Policy, dataset, rows, steps: int, stop: int | None = None):
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    # TRL 1.16 calls a transformers method that transformers 5.23 renamed; the warning is not the user's to fix.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

    cfg, model_cfg = request.train, request.model
    device = resolve_device(model_cfg.device)
    dtype = resolve_dtype(model_cfg.dtype, device)
    args = GRPOConfig(
        output_dir=str(request.workdir / "trl"),
        max_steps=steps,
        per_device_train_batch_size=per_device_batch(cfg),
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        num_generations=cfg.num_generations,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=cfg.warmup_ratio,
        beta=cfg.beta,
        temperature=cfg.temperature,
        max_completion_length=cfg.max_completion_length,
        shuffle_dataset=False,
        seed=request.seed,
        logging_steps=cfg.logging_steps,
        report_to=list(cfg.report_to) or "none",
        save_strategy="no",
        use_cpu=device == "cpu",
        bf16=str(dtype) == "torch.bfloat16",
        activation_checkpointing=False,
        remove_unused_columns=False,
        disable_tqdm=True,
        **dict(cfg.options),
    )
    if cfg.freeze_vision:
        visual = getattr(policy.model, "visual", None) or policy.model.model.visual
        visual.requires_grad_(False)
    callbacks = []
    if request.progress is not None:
        report = request.progress

        class ReportProgress(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                report("train", state.global_step, state.max_steps)

        callbacks.append(ReportProgress())
    if stop is not None and stop < steps:

        class StopAndSave(TrainerCallback):
            """A partial run: the full run's schedule, stopped with a resumable checkpoint."""

            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step >= stop:
                    control.should_save = control.should_training_stop = True

        callbacks.append(StopAndSave())
    rewards = {name: data.reward for name, data in request.domains.items()}
    trainer = GRPOTrainer(
        model=policy.model,
        reward_funcs=[DomainRouter(rows, rewards)],
        args=args,
        train_dataset=dataset,
        processing_class=policy.processor,
        peft_config=_lora_config(cfg.lora),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # metrics go to TrainOutcome and report_to, not stdout
    return trainer


def per_device_batch(cfg) -> int:
    """``train.batch_size`` is the whole update: split over the launcher's processes (``WORLD_SIZE``) and the
    accumulation steps, so a trial sees the same prompts however many processes it spans."""
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    parts = processes * cfg.gradient_accumulation_steps
    if cfg.batch_size % parts:
        raise ConfigError(
            f"train.batch_size: {cfg.batch_size} completions an update cannot be split over {processes} "
            f"process(es) x {cfg.gradient_accumulation_steps} accumulation step(s); expected a multiple of {parts}"
        )
    return cfg.batch_size // parts


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _lora_config(lora):
    if lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )


def training_metrics(log_history, rows, sequence: list[int], steps: int) -> dict[str, Any]:
    """Steps, realised domain counts, final loss, and per-domain reward / format rate over the run."""
    draws = [Draw(rows[i]["domain"], i) for i in sequence]
    series: dict[str, list[float]] = defaultdict(list)
    for entry in log_history:
        for key, value in entry.items():
            if isinstance(value, (int, float)) and (key in ("loss", "reward", "kl", "step_time") or key.startswith("domain/")):
                series[key].append(float(value))
    metrics: dict[str, Any] = {"steps": steps, "prompts": len(sequence), "domain_counts": domain_counts(draws)}
    for key, values in series.items():
        finite = [v for v in values if math.isfinite(v)]
        if key == "loss":
            metrics["loss"] = values[-1]
        elif finite:
            metrics[key] = sum(finite) / len(finite)
            metrics[f"{key}_last"] = finite[-1]
    return metrics
