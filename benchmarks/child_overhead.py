"""What does running a trial in a child process cost, against running it in the driver's process?

Runs the same trial (the quickstart's uniform mixture, its seed) alternately in-process and as a child
(``executor.trial_process = "child"``), through the executor's own ``attempt_trial``, and compares wall
times. The first child also starts the fork server (which imports the trainer's libraries once per study);
that start is reported on its own, the per-trial overhead from the later pairs. Prints and saves
benchmarks/results/child_overhead.json. Target: per-trial overhead <= 5% of a quickstart trial.

Usage: python benchmarks/child_overhead.py [--config examples/quickstart.toml] [--pairs 3] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from modomodo.config import with_overrides, load_config
from modomodo.executors import TrialFailure, attempt_trial
from modomodo.mixture import Mixture
from modomodo.trial import TrialJob

RESULTS = Path(__file__).parent / "results"


def timed_trial(config, workdir: Path) -> tuple[float, dict]:
    job = TrialJob(id=workdir.name, index=1, mixture=Mixture.uniform(config.domain_names), seed=config.study.seed,
                   role="search", workdir=workdir)
    started = time.monotonic()
    outcome = attempt_trial(config, job)
    if isinstance(outcome, TrialFailure):
        raise SystemExit(f"{workdir.name} failed: {outcome.error}")
    return time.monotonic() - started, outcome.summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="examples/quickstart.toml")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--output", default=str(RESULTS / "child_overhead.json"))
    args = parser.parse_args()
    base = with_overrides(load_config(args.config), args.overrides)
    configs = {mode: with_overrides(base, [f"executor.trial_process={mode}"]) for mode in ("inline", "child")}
    times: dict[str, list[float]] = {"inline": [], "child": []}
    summaries = {}
    with tempfile.TemporaryDirectory() as scratch:
        for pair in range(args.pairs + 1):  # pair 0: the fork server starts; not counted per trial
            order = ("child", "inline") if pair % 2 else ("inline", "child")
            for mode in order:
                seconds, summaries[mode] = timed_trial(configs[mode], Path(scratch) / f"{mode}-{pair}")
                print(f"pair {pair} {mode:6s} {seconds:6.1f} s  In {summaries[mode]['in_score']:.4f}  "
                      f"Out {summaries[mode]['out_score']:.4f}", flush=True)
                times[mode].append(seconds)
    inline, child = times["inline"][1:], times["child"][1:]
    overhead = statistics.fmean(c - i for c, i in zip(child, inline))
    report = {
        "config": args.config,
        "overrides": args.overrides,
        "pairs": args.pairs,
        "inline_seconds": times["inline"],
        "child_seconds": times["child"],
        "mean_inline_seconds": statistics.fmean(inline),
        "mean_child_seconds": statistics.fmean(child),
        "overhead_seconds": overhead,
        "overhead_percent": 100 * overhead / statistics.fmean(inline),
        # pair 0: the child also starts the fork server, the inline trial pays the driver's first imports
        "first_pair_child_minus_inline_seconds": times["child"][0] - times["inline"][0],
        "same_scores": summaries["inline"] == summaries["child"],
        "target_percent": 5.0,
    }
    print(f"inline {report['mean_inline_seconds']:.1f} s, child {report['mean_child_seconds']:.1f} s: overhead "
          f"{overhead:+.2f} s = {report['overhead_percent']:+.1f}% a trial (target <= 5%); first pair (fork server "
          f"start against the driver's first imports) {report['first_pair_child_minus_inline_seconds']:+.1f} s; "
          f"same scores: {report['same_scores']}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2))
    print(f"saved {args.output}")


if __name__ == "__main__":
    sys.exit(main())
