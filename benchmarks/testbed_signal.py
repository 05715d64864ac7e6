"""Does the data mixture matter more than the seed on the embedded testbed?

Runs a fixed panel of mixtures on the quickstart's domains (uniform, each single domain, three
Dirichlet draws from a fixed seed), each with 3 training seeds, through the same trial code the study
uses, and scores the embedded base once per seed. Prints and saves
benchmarks/results/testbed_signal.json and .png:

- per mixture: mean and spread (sd over seeds) of In-Score and Out-Score;
- the RL effect: trained uniform minus base, In and Out, per seed;
- the transfer matrix: each single-domain trial minus the base, per benchmark, mean and standard error over
  seeds (saved as testbed_signal_transfer.png);
- one-way ANOVA on Out-Score across the panel (F, p) and the intraclass correlation ICC(1): the share of
  Out-Score variance explained by the mixture rather than the seed; and F of In and of each benchmark
  alone, to see which one carries the mixture signal;
- the best panel mixture's margin over uniform on Out-Score in units of its standard error (over seeds),
  and the same margin paired on the fixed test examples (evaluation noise only, testbed-notes.md);
- the base's load time and the mean trial time (the quickstart's budget is ~18 trials);
- every trial's scores (In, Out, each benchmark, their standard errors), to see which benchmark moves;
- with ``--set 'eval.at=[0.25, 0.5, 1.0]'``: how well the early evaluations rank trials and mixtures by their
  final Out-Score (Spearman), what a multi-fidelity strategy relies on.

Usage: python benchmarks/testbed_signal.py [--config examples/quickstart.toml] [--quick] [--seeds 3] [--output PATH]
       [--set train.learning_rate=1e-3 ...] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from modomodo.config import load_config, with_overrides
from modomodo.mixture import Mixture
from modomodo.plugins import get
from modomodo.scoring import aggregate, paired_margin
from modomodo.trial import evaluate, run_trial

RESULTS = Path(__file__).parent / "results"


def panel(domains: list[str], quick: bool) -> dict[str, Mixture]:
    mixtures = {"uniform": Mixture.uniform(domains)}
    singles = domains[:2] if quick else domains
    for name in singles:
        mixtures[f"only {name}"] = Mixture({d: float(d == name) for d in domains})
    draws = np.random.default_rng(20261125).dirichlet(np.ones(len(domains)), size=1 if quick else 3)
    for index, draw in enumerate(draws, start=1):
        mixtures[f"dirichlet {index}"] = Mixture.normalised(dict(zip(domains, draw)))
    return mixtures


def _run_all(args, config, mixtures: dict[str, Mixture], jobs: list[tuple[str, int, Path]]):
    """Every (mixture, seed) trial, in order: in this process, or ``--jobs`` processes of one thread each."""
    if args.jobs <= 1:
        for name, seed, workdir in jobs:
            yield _scores(run_trial(config, mixtures[name], seed, workdir))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_trial_in_worker, args.config, args.overrides, dict(mixtures[name]), seed, workdir)
                   for name, seed, workdir in jobs]
        for future in futures:
            yield future.result()


def _trial_in_worker(config_path: str, overrides: list[str], mixture: dict, seed: int, workdir: Path):
    import torch

    torch.set_num_threads(1)
    config = with_overrides(load_config(config_path), overrides)
    return _scores(run_trial(config, Mixture(mixture), seed, workdir))


def _scores(result) -> tuple[dict, dict]:
    return ({**result.scores(), "wall_time": result.wall_time, "evaluations": list(result.evaluations)},
            dict(result.per_example))


def early_vs_final(results: dict[str, list[dict]], points: list[float]) -> dict[str, dict[str, float]]:
    """How well each early evaluation (``eval.at`` before the end) ranks trials and mixtures by their final
    Out-Score: Spearman over every (mixture, seed) trial, and over the panel's mixtures (means over seeds)."""
    from scipy import stats

    def out_at(trial, point):
        return next(e["scores"]["out_score"] for e in trial["evaluations"] if e["fraction"] == point)

    found = {}
    for point in points[:-1]:
        trials = [t for runs in results.values() for t in runs]
        means_early = [statistics.fmean(out_at(t, point) for t in runs) for runs in results.values()]
        means_final = [statistics.fmean(t["out_score"] for t in runs) for runs in results.values()]
        found[str(point)] = {
            "spearman_trials": float(stats.spearmanr([out_at(t, point) for t in trials],
                                                     [t["out_score"] for t in trials]).statistic),
            "spearman_mixtures": float(stats.spearmanr(means_early, means_final).statistic),
            "trials": len(trials), "mixtures": len(means_final),
        }
    return found


def transfer_matrix(results: dict[str, list[dict]], base: list[dict], domains: list[str],
                    keys: tuple[str, ...]) -> dict[str, dict[str, dict[str, float]]]:
    """Each single-domain trial minus the base, per score: mean and standard error over seeds (paired by seed)."""
    matrix = {}
    for domain in domains:
        trials = results.get(f"only {domain}")
        if not trials:
            continue
        matrix[domain] = {}
        for key in keys:
            gains = [trial[key] - b[key] for trial, b in zip(trials, base)]
            stderr = statistics.stdev(gains) / math.sqrt(len(gains)) if len(gains) > 1 else math.nan
            matrix[domain][key] = {"mean": statistics.fmean(gains), "stderr": stderr}
    return matrix


def one_way_anova(groups: list[list[float]]) -> dict[str, float]:
    """F statistic, its p-value and ICC(1) for equal-sized groups (mixtures x seeds)."""
    from scipy import stats

    k, n = len(groups), len(groups[0])
    grand = statistics.fmean(v for g in groups for v in g)
    ms_between = n * sum((statistics.fmean(g) - grand) ** 2 for g in groups) / (k - 1)
    ms_within = sum((v - statistics.fmean(g)) ** 2 for g in groups for v in g) / (k * (n - 1))
    f = ms_between / ms_within if ms_within > 0 else math.inf
    return {
        "F": f,
        "p": float(stats.f.sf(f, k - 1, k * (n - 1))) if math.isfinite(f) else 0.0,
        "icc": (ms_between - ms_within) / (ms_between + (n - 1) * ms_within),
        "ms_between": ms_between,
        "ms_within": ms_within,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="examples/quickstart.toml")
    parser.add_argument("--quick", action="store_true", help="a reduced panel (smoke test)")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds per mixture (default 3, quick 2)")
    parser.add_argument("--output", default=None,
                        help="where to save the .json and .png (default benchmarks/results/testbed_signal[_quick])")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="change a config key, e.g. train.learning_rate=1e-3")
    parser.add_argument("--jobs", type=int, default=1, help="trials run at once, each in its own process")
    args = parser.parse_args()
    config = with_overrides(load_config(args.config), args.overrides)
    seeds = [config.study.seed + i for i in range(args.seeds or (2 if args.quick else 3))]
    mixtures = panel(config.domain_names, args.quick)
    trainer = get("trainers", config.model.trainer)
    started = time.monotonic()
    results: dict[str, list[dict]] = {name: [] for name in mixtures}
    examples: dict[str, list[dict]] = {name: [] for name in mixtures}
    base: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        policy = trainer.base_policy(config.model, Path(scratch) / "base")
        load_seconds = time.monotonic() - started
        for seed in seeds:
            scores, _ = evaluate(config, policy, seed)
            base.append({**aggregate(scores), **{score.name: score.score for score in scores}})
            print(f"base seed {seed}: in {base[-1]['in_score']:.4f} out {base[-1]['out_score']:.4f}", flush=True)
        jobs = [(name, seed, Path(scratch) / f"{name}-{seed}".replace(" ", "_")) for name in mixtures for seed in seeds]
        for (name, seed, _), (scores, per_example) in zip(jobs, _run_all(args, config, mixtures, jobs)):
            results[name].append(scores)
            examples[name].append(per_example)
            print(f"{name:>14} seed {seed}: in {scores['in_score']:.4f} "
                  f"out {scores['out_score']:.4f} ({scores['wall_time']:.0f}s)", flush=True)

    def column(name, key):
        return [r[key] for r in results[name]]

    table = {
        name: {
            "mixture": dict(mixtures[name]),
            "in_mean": statistics.fmean(column(name, "in_score")),
            "in_sd": statistics.stdev(column(name, "in_score")),
            "out_mean": statistics.fmean(column(name, "out_score")),
            "out_sd": statistics.stdev(column(name, "out_score")),
            "out_eval_stderr": statistics.fmean(column(name, "out_score_stderr")),
            "seconds_per_trial": statistics.fmean(column(name, "wall_time")),
        }
        for name in mixtures
    }
    rl_effect = [u - b["in_score"] for u, b in zip(column("uniform", "in_score"), base)]
    rl_effect_out = [u - b["out_score"] for u, b in zip(column("uniform", "out_score"), base)]
    transfer = transfer_matrix(results, base, config.domain_names, ("in_score", "out_score", *config.benchmarks))
    worst_sd = max(row["out_sd"] for row in table.values())
    anova = one_way_anova([column(name, "out_score") for name in mixtures])
    # Which benchmark carries the mixture signal: F of each score on its own (In, Out and every benchmark).
    anova_by_score = {key: one_way_anova([column(name, key) for name in mixtures])["F"]
                      for key in ("in_score", *config.benchmarks)}
    best = max((n for n in mixtures if n != "uniform"), key=lambda n: table[n]["out_mean"])
    margin = table[best]["out_mean"] - table["uniform"]["out_mean"]
    margin_se = math.sqrt((table[best]["out_sd"] ** 2 + table["uniform"]["out_sd"] ** 2) / len(seeds))
    groups = {name: entry.group for name, entry in config.benchmarks.items()}
    paired = [paired_margin(b, u, groups, "out_score") for b, u in zip(examples[best], examples["uniform"])]
    paired_se = math.sqrt(sum(se**2 for _, se in paired)) / len(paired)
    summary = {
        "config": args.config,
        "overrides": args.overrides,
        "quick": args.quick,
        "seeds": seeds,
        "panel": table,
        "trials": results,
        "base": base,
        "rl_effect_in_score_per_seed": rl_effect,
        "rl_effect_in_score_mean": statistics.fmean(rl_effect),
        "rl_effect_out_score_per_seed": rl_effect_out,
        "transfer_matrix": transfer,
        "largest_out_sd": worst_sd,
        "anova_out_score": anova,
        "anova_F_by_score": anova_by_score,
        "best_mixture": best,
        "best_margin_over_uniform_out": margin,
        "best_margin_stderr_over_seeds": margin_se,
        "best_margin_in_stderrs": margin / margin_se if margin_se > 0 else math.inf,
        "best_margin_paired_stderr": paired_se,
        "best_margin_in_paired_stderrs": margin / paired_se if paired_se > 0 else math.inf,
        "early_vs_final": early_vs_final(results, config.eval.at),
        "base_load_seconds": load_seconds,
        "targets": {
            "rl_effect_in_at_least_0.05_and_out_above_base_each_seed":
                min(rl_effect) >= 0.05 and min(rl_effect_out) > 0,
            "anova_F_at_least_4": anova["F"] >= 4,
            "out_sd_at_most_0.015_for_every_mixture": worst_sd <= 0.015,
            "best_beats_uniform_by_2_stderr": margin / margin_se > 2 if margin_se > 0 else margin > 0,
        },
        "wall_time_s": time.monotonic() - started,
    }
    stem = Path(args.output or RESULTS / ("testbed_signal_quick" if args.quick else "testbed_signal")).with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    _plot(table, base, stem.with_suffix(".png"))
    if transfer:
        _plot_transfer(transfer, stem.with_name(stem.name + "_transfer.png"))

    print(f"\n{'mixture':>14} {'in mean':>8} {'in sd':>7} {'out mean':>9} {'out sd':>7} {'eval se':>8}")
    for name, row in table.items():
        print(f"{name:>14} {row['in_mean']:8.4f} {row['in_sd']:7.4f} {row['out_mean']:9.4f} {row['out_sd']:7.4f} "
              f"{row['out_eval_stderr']:8.4f}")
    print(f"\nRL effect (uniform - base) per seed: In {', '.join(f'{e:+.4f}' for e in rl_effect)}; "
          f"Out {', '.join(f'{e:+.4f}' for e in rl_effect_out)}")
    print("\ntransfer matrix (single-domain trial minus base, mean ± s.e. over seeds):")
    for domain, row in transfer.items():
        print(f"{domain:>14} " + "  ".join(f"{key} {cell['mean']:+.3f}±{cell['stderr']:.3f}" for key, cell in row.items()))
    print(f"ANOVA on Out-Score across the panel: F = {anova['F']:.2f} (p = {anova['p']:.3g}), ICC = {anova['icc']:.2f}")
    print("F of each score alone: " + ", ".join(f"{key} {f:.2f}" for key, f in anova_by_score.items()))
    print(f"best panel mixture: {best}, Out margin over uniform {margin:+.4f} = {summary['best_margin_in_stderrs']:.1f} s.e. "
          f"over seeds ({summary['best_margin_in_paired_stderrs']:.1f} paired s.e. on the test examples)")
    for point, found in summary["early_vs_final"].items():
        print(f"Out-Score at {float(point):.0%} of the steps against the final one: Spearman "
              f"{found['spearman_trials']:+.2f} over {found['trials']} trials, {found['spearman_mixtures']:+.2f} over "
              f"the {found['mixtures']} mixtures' means")
    print(f"base loaded in {load_seconds:.0f} s; mean trial "
          f"{statistics.fmean(r['seconds_per_trial'] for r in table.values()):.0f} s")
    print(f"targets: {summary['targets']}; wall time {summary['wall_time_s']:.0f} s")
    return 0


def _plot(table: dict, base: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for ax, key, label in ((axes[0], "in", "In-Score"), (axes[1], "out", "Out-Score")):
        ax.errorbar(range(len(names)), [table[n][f"{key}_mean"] for n in names],
                    yerr=[table[n][f"{key}_sd"] for n in names], fmt="o", capsize=4)
        ax.axhline(statistics.fmean(b[f"{key}_score"] for b in base), ls=":", color="black", label="base (no RL)")
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(f"{label} (mean ± sd over seeds)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_transfer(transfer: dict, path: Path) -> None:
    """The transfer matrix as a heatmap: rows are training domains, columns the scores, cells the mean gain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domains = list(transfer)
    keys = list(next(iter(transfer.values())))
    grid = np.array([[transfer[d][k]["mean"] for k in keys] for d in domains])
    limit = max(0.01, float(np.nanmax(np.abs(grid))))
    fig, ax = plt.subplots(figsize=(1.5 + 1.0 * len(keys), 1.2 + 0.5 * len(domains)))
    image = ax.imshow(grid, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for i, d in enumerate(domains):
        for j, k in enumerate(keys):
            ax.text(j, i, f"{transfer[d][k]['mean']:+.3f}\n±{transfer[d][k]['stderr']:.3f}", ha="center",
                    va="center", fontsize=7)
    ax.set_xticks(range(len(keys)), [k.replace("_score", "") for k in keys], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(domains)), [f"only {d}" for d in domains], fontsize=8)
    ax.set_title("single-domain trial minus base (mean ± s.e. over seeds)", fontsize=9)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
