"""What does modomodo's trl-grpo trainer cost over a plain GRPOTrainer script? (issue 4, done-when 3)

Both runs use the same embedded base model, the same prompts in the same order, the same reward
(the domains' CompositeReward) and the same GRPO settings; the plain run builds its dataset with
``Dataset.from_list`` and one reward function, as a user's own script would. The figure is TRL's own
``step_time`` (mean over logged steps), and the whole ``train()`` wall time, each the minimum over
``--repeats`` alternating runs (the CPU is shared). Target: ratio <= 1.05.
Saves benchmarks/results/trainer_overhead.json.

Usage: OMP_NUM_THREADS=1 python benchmarks/trainer_overhead.py [--config examples/quickstart.toml] [--steps 30]
       [--repeats 3] [--output benchmarks/results/trainer_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import attrs

from modomodo import DomainData, Mixture, TrainRequest
from modomodo.config import load_config
from modomodo.loading import domain_reward, load_rows
from modomodo.plugins import get

RESULTS = Path(__file__).parent / "results"


def modomodo_run(request: TrainRequest) -> dict:
    started = time.monotonic()
    outcome = get("trainers", "trl-grpo").train(request)
    return {"wall": time.monotonic() - started, "step_time": outcome.metrics["step_time"]}


def plain_run(request: TrainRequest, rows: list[dict], order: list[int]) -> dict:
    """A user's own script: the same prompts and reward, straight into GRPOTrainer."""
    import torch
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    from modomodo_plugins.trl_grpo.base_model import shipped_base
    from modomodo_plugins.trl_grpo.checkpoints import load_policy

    started = time.monotonic()
    cfg = request.train
    policy = load_policy(request.model.path or shipped_base(), request.model)
    policy.model.model.visual.requires_grad_(False)
    on_cpu = policy.model.device.type == "cpu"
    dataset = Dataset.from_list([
        {"prompt": [{"role": "user", "content": rows[i]["problem"]}], "image": rows[i]["image"], "index": i}
        for i in order
    ])
    rewards = {name: data.reward for name, data in request.domains.items()}

    def reward(completions, index, **_):
        return [rewards[rows[i]["domain"]](c[0]["content"], rows[i]).total for c, i in zip(completions, index)]

    args = GRPOConfig(
        output_dir=str(request.workdir / "plain"), max_steps=cfg.steps, per_device_train_batch_size=cfg.batch_size,
        num_generations=cfg.num_generations, learning_rate=cfg.learning_rate, lr_scheduler_type="linear",
        warmup_steps=cfg.warmup_ratio, beta=cfg.beta, temperature=cfg.temperature,
        max_completion_length=cfg.max_completion_length, shuffle_dataset=False, seed=request.seed,
        logging_steps=cfg.logging_steps, report_to="none", save_strategy="no", use_cpu=on_cpu,
        bf16=policy.model.dtype == torch.bfloat16,
        activation_checkpointing=False, disable_tqdm=True,
    )
    trainer = GRPOTrainer(model=policy.model, reward_funcs=[reward], args=args, train_dataset=dataset,
                          processing_class=policy.processor)
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    step_times = [e["step_time"] for e in trainer.state.log_history if "step_time" in e]
    return {"wall": time.monotonic() - started, "step_time": statistics.fmean(step_times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="examples/quickstart.toml")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(RESULTS / "trainer_overhead.json"))
    args = parser.parse_args()
    config = load_config(args.config)
    config = attrs.evolve(config, train=attrs.evolve(config.train, steps=args.steps, logging_steps=1))
    domains = {
        name: DomainData(rows=load_rows(name, entry, seed=0), reward=domain_reward(entry))
        for name, entry in config.domains.items()
    }
    from modomodo_plugins.trl_grpo.trainer import training_stream

    results = {"modomodo": [], "plain": []}
    with tempfile.TemporaryDirectory() as scratch:
        request = TrainRequest(mixture=Mixture.uniform(config.domain_names), seed=0, domains=domains,
                               model=config.model, train=config.train, workdir=Path(scratch))
        rows, order = training_stream(request)
        get("trainers", "trl-grpo").base_policy(config.model, Path(scratch))  # first load outside the clock
        for repeat in range(args.repeats):
            results["modomodo"].append(modomodo_run(request))
            results["plain"].append(plain_run(request, rows, order))
            print(f"repeat {repeat}: modomodo {results['modomodo'][-1]}  plain {results['plain'][-1]}", flush=True)
    best = {kind: {key: min(run[key] for run in runs) for key in ("wall", "step_time")} for kind, runs in results.items()}
    ratio = {key: best["modomodo"][key] / best["plain"][key] for key in ("wall", "step_time")}
    report = {"steps": args.steps, "runs": results, "best": best, "ratio": ratio, "target_met": ratio["step_time"] <= 1.05}
    print(f"step time: modomodo {best['modomodo']['step_time']:.3f} s, plain {best['plain']['step_time']:.3f} s, "
          f"ratio {ratio['step_time']:.3f}; train() wall ratio {ratio['wall']:.3f}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2))
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
