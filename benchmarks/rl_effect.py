"""Does GRPO improve on its base on the embedded testbed?

Loads the base, scores it once, then trains on the uniform mixture with
several seeds through the same trial code the study uses. Prints and saves
benchmarks/results/rl_effect.json: per seed In/Out of base and trained, the gain with its paired
standard error, and the mean and spread (sd over seeds) of the gains. Target: mean In gain >= 0.05.

Usage: python benchmarks/rl_effect.py [--config examples/quickstart.toml] [--seeds 3] [--set train.steps=150 ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from modomodo.config import load_config, with_overrides
from modomodo.mixture import Mixture
from modomodo.plugins import get
from modomodo.scoring import aggregate, paired_margin
from modomodo.trial import evaluate, run_trial

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="examples/quickstart.toml")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--output", default=str(RESULTS / "rl_effect.json"))
    args = parser.parse_args()
    config = with_overrides(load_config(args.config), args.overrides)
    trainer = get("trainers", config.model.trainer)
    groups = {name: entry.group for name, entry in config.benchmarks.items()}
    with tempfile.TemporaryDirectory() as scratch:
        started = time.monotonic()
        policy = trainer.base_policy(config.model, Path(scratch) / "base")
        load_seconds = time.monotonic() - started
        started = time.monotonic()
        base_scores, base_examples = evaluate(config, policy, config.study.seed)
        base_eval_seconds = time.monotonic() - started
        base = aggregate(base_scores)
        print(f"base: In {base['in_score']:.4f} ± {base['in_score_stderr']:.4f}  Out {base['out_score']:.4f} ± "
              f"{base['out_score_stderr']:.4f}  " + "  ".join(f"{b.name} {b.score:.3f}" for b in base_scores), flush=True)
        runs = []
        for seed in range(args.seeds):
            result = run_trial(config, Mixture.uniform(config.domain_names), seed, Path(scratch) / f"seed{seed}")
            gains = {
                target: paired_margin(result.per_example, base_examples, groups, target)
                for target in ("in_score", "out_score", *groups)
            }
            runs.append({
                "seed": seed,
                "in_score": result.summary["in_score"],
                "out_score": result.summary["out_score"],
                "benchmarks": {b.name: b.score for b in result.benchmarks},
                "gain": {k: {"mean": m, "paired_stderr": s} for k, (m, s) in gains.items()},
                "train_metrics": dict(result.train_metrics),
                "trial_seconds": result.wall_time,
            })
            print(f"seed {seed}: In {result.summary['in_score']:.4f} (gain {gains['in_score'][0]:+.4f} ± "
                  f"{gains['in_score'][1]:.4f})  Out {result.summary['out_score']:.4f} (gain "
                  f"{gains['out_score'][0]:+.4f} ± {gains['out_score'][1]:.4f})  {result.wall_time:.1f} s  "
                  + "  ".join(f"{b.name} {b.score:.3f}" for b in result.benchmarks), flush=True)
    summary = {}
    for target in ("in_score", "out_score"):
        values = [run["gain"][target]["mean"] for run in runs]
        summary[target] = {"mean_gain": statistics.fmean(values),
                           "sd_gain": statistics.stdev(values) if len(values) > 1 else 0.0,
                           "min_gain": min(values)}
    report = {
        "config": args.config,
        "overrides": args.overrides,
        "base": {"summary": base, "benchmarks": {b.name: b.score for b in base_scores}},
        "runs": runs,
        "summary": summary,
        "base_load_seconds": load_seconds,
        "base_eval_seconds": base_eval_seconds,
        "mean_trial_seconds": statistics.fmean(run["trial_seconds"] for run in runs),
        "target_met": summary["in_score"]["mean_gain"] >= 0.05,
    }
    print(f"RL effect over {len(runs)} seeds: In {summary['in_score']['mean_gain']:+.4f} (sd "
          f"{summary['in_score']['sd_gain']:.4f})  Out {summary['out_score']['mean_gain']:+.4f} (sd "
          f"{summary['out_score']['sd_gain']:.4f})  mean trial {report['mean_trial_seconds']:.1f} s")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2))
    print(f"saved {args.output}")


if __name__ == "__main__":
    sys.exit(main())
