"""The GPU check for real-scale trials: a Qwen2-VL-2B-shaped model through modomodo's trainer on a GPU.

Builds Qwen2-VL-2B-Instruct's architecture (2.2 B parameters, ``tiny_model.SIZES["qwen2-vl-2b"]``) from its
config with random weights and the embedded tokenizer: nothing is downloaded. Then measures, on the
quickstart's synthetic domains with the paper's GRPO batch (12 completions, 6 per prompt):

- GRPO step time and peak GPU memory, generating with HF ``generate`` and with TRL's vLLM (colocate mode);
- evaluation answers per second, HF ``generate`` against vLLM's offline engine;
- a trial of 1 process against 2 (``executor.processes``), where the machine has 2 GPUs;
- modomodo's step time against a plain TRL ``GRPOTrainer`` script on the same model
  (benchmarks/trainer_overhead.py; target ratio <= 1.05).

A random model never emits its end token, so every completion runs to ``--completion-length``: the step
times are for full-length completions. What cannot run (no vLLM, one GPU) is recorded with the reason.
Prints and saves benchmarks/results/gpu.json (``--output``).

Usage: python benchmarks/gpu_check.py [--steps 8] [--completion-length 128] [--eval-rows 64]
       python benchmarks/gpu_check.py --smoke    # the tiny size on CPU: checks this script, not a GPU
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from modomodo import DomainData, Mixture, TrainRequest
from modomodo.config import config_from_dict, config_to_dict, dump_toml, load_config
from modomodo.executors import TrialFailure, attempt_trial
from modomodo.loading import domain_reward, load_rows
from modomodo.plugins import get
from modomodo.trial import TrialJob, generate_request

RESULTS = Path(__file__).parent / "results"
BENCHMARKS = Path(__file__).parent


def build_checkpoint(size: str, directory: Path) -> dict:
    """A random model of ``size`` with the embedded tokenizer and processor, saved as a checkpoint."""
    import torch

    from modomodo_plugins.trl_grpo.base_model import shipped_base
    from modomodo_plugins.trl_grpo.checkpoints import load_processor
    from modomodo_plugins.trl_grpo.tiny_model import SIZES, build_model

    processor = load_processor(shipped_base(), False, {})
    model = build_model(SIZES[size], processor.tokenizer, seed=0)
    if torch.cuda.is_available():
        model = model.to(torch.bfloat16)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return {"size": size, "parameters": sum(p.numel() for p in model.parameters())}


def check_config(checkpoint: Path, args, run_dir: Path):
    data = config_to_dict(load_config(BENCHMARKS.parent / "examples/quickstart.toml"))
    data["study"].update(output_dir=str(run_dir), confirm_seeds=0)
    data["model"].pop("embedded")
    data["model"]["path"] = str(checkpoint)
    data["train"].update(steps=args.steps, batch_size=12, num_generations=6, logging_steps=1,
                         max_completion_length=args.completion_length)
    data["eval"].update(limit=args.eval_rows, max_new_tokens=args.completion_length, batch_size=args.eval_rows)
    return config_from_dict(data, "gpu_check")


def peak_memory_reset() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gib() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


def measure_training(config, options: dict, workdir: Path) -> dict:
    import attrs

    train = attrs.evolve(config.train, options={**config.train.options, **options})
    domains = {name: DomainData(rows=load_rows(name, entry, seed=0), reward=domain_reward(entry))
               for name, entry in config.domains.items()}
    request = TrainRequest(mixture=Mixture.uniform(config.domain_names), seed=0, domains=domains,
                           model=config.model, train=train, workdir=workdir)
    peak_memory_reset()
    started = time.monotonic()
    outcome = get("trainers", config.model.trainer).train(request)
    return {"step_time_s": outcome.metrics.get("step_time"), "train_wall_s": time.monotonic() - started,
            "peak_memory_gib": peak_memory_gib(), "steps": outcome.metrics.get("steps")}


def measure_evaluation(config, engine: str, workdir: Path) -> dict:
    import attrs

    trainer = get("trainers", config.model.trainer)
    policy = trainer.base_policy(config.model, workdir)
    rows = [row for name, entry in config.benchmarks.items()
            for row in load_rows(name, entry, seed=config.study.seed, limit=config.eval.limit)]
    request = attrs.evolve(generate_request(config, config.study.seed), engine=engine)
    trainer.generate(policy, rows[: min(8, len(rows))], request)  # warm-up: compile, allocate, build the engine
    started = time.monotonic()
    trainer.generate(policy, rows, request)
    seconds = time.monotonic() - started
    return {"rows": len(rows), "seconds": seconds, "rows_per_s": len(rows) / seconds}


def measure_processes(config, processes: int, workdir: Path) -> dict:
    import attrs

    executor = attrs.evolve(config.executor, trial_process="child", processes=processes)
    job = TrialJob(id=f"p{processes}", index=1, mixture=Mixture.uniform(config.domain_names), seed=0, role="search",
                   workdir=workdir / f"p{processes}")
    started = time.monotonic()
    outcome = attempt_trial(attrs.evolve(config, executor=executor), job)
    if isinstance(outcome, TrialFailure):
        return {"failed": outcome.error}
    return {"trial_wall_s": time.monotonic() - started, "train_seconds": outcome.train_metrics.get("train_seconds"),
            "step_time_s": outcome.train_metrics.get("step_time")}


def attempt(name: str, results: dict, measure, *args) -> None:
    """Run one measurement; a failure is recorded with its reason, and the check goes on."""
    print(f"-- {name}", flush=True)
    try:
        results[name] = measure(*args)
    except Exception as error:  # noqa: BLE001 - one failed measurement must not lose the others
        results[name] = {"failed": f"{type(error).__name__}: {error}"}
    print(f"   {results[name]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--completion-length", type=int, default=128)
    parser.add_argument("--eval-rows", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="tiny model on CPU, 2 steps: checks the script")
    parser.add_argument("--output", default=str(RESULTS / "gpu.json"))
    args = parser.parse_args()
    import torch

    if args.smoke:
        args.steps, args.completion_length, args.eval_rows = 2, 16, 8
    size = "tiny" if args.smoke else "qwen2-vl-2b"
    gpus = torch.cuda.device_count()
    vllm = importlib.util.find_spec("vllm") is not None
    results: dict = {
        "device": torch.cuda.get_device_name(0) if gpus else f"CPU ({platform.processor() or platform.machine()})",
        "gpus": gpus, "torch": torch.__version__, "vllm_installed": vllm, "smoke": args.smoke,
        "steps": args.steps, "completion_length": args.completion_length, "eval_rows_per_benchmark": args.eval_rows,
    }
    if not gpus and not args.smoke:
        raise SystemExit("gpu_check: torch sees no GPU; run it on a GPU machine, or pass --smoke to check the script")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        results["model"] = build_checkpoint(size, scratch / "model")
        config = check_config(scratch / "model", args, scratch / "runs")
        attempt("train_hf_generate", results, measure_training, config, {}, scratch / "hf")
        if vllm and gpus:
            attempt("train_vllm_colocate", results, measure_training, config,
                    {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3}, scratch / "vllm")
        else:
            results["train_vllm_colocate"] = {"skipped": "vLLM is not installed" if gpus else "no GPU"}
        attempt("eval_hf_generate", results, measure_evaluation, config, "hf", scratch / "eval-hf")
        if vllm and gpus:
            attempt("eval_vllm", results, measure_evaluation, config, "vllm", scratch / "eval-vllm")
        else:
            results["eval_vllm"] = {"skipped": "vLLM is not installed" if gpus else "no GPU"}
        if gpus >= 2 or args.smoke:
            for processes in (1, 2):
                attempt(f"trial_{processes}_process", results, measure_processes, config, processes, scratch)
        else:
            results["trial_2_process"] = {"skipped": f"{gpus} GPU: a 2-process trial needs 2"}
        config_path = scratch / "check.toml"
        config_path.write_text(dump_toml(config_to_dict(config)))
        overhead = scratch / "overhead.json"
        done = subprocess.run([sys.executable, str(BENCHMARKS / "trainer_overhead.py"), "--config", str(config_path),
                               "--steps", str(args.steps), "--repeats", "1" if args.smoke else "2",
                               "--output", str(overhead)], capture_output=True, text=True)
        results["modomodo_vs_plain_trl"] = (json.loads(overhead.read_text()) if done.returncode == 0
                                            else {"failed": done.stderr.strip().splitlines()[-1:]})
    results["wall_s"] = time.monotonic() - started
    ratio = results["modomodo_vs_plain_trl"].get("ratio", {}).get("step_time")
    results["step_time_ratio_target_met"] = ratio is not None and ratio <= 1.05
    print(json.dumps({k: v for k, v in results.items() if k != "modomodo_vs_plain_trl"}, indent=1))
    print(f"modomodo / plain TRL step time: {ratio if ratio is None else round(ratio, 3)} (target <= 1.05)")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2))
    print(f"saved {args.output}")


if __name__ == "__main__":
    sys.exit(main())
