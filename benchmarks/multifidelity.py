"""Partial trials benchmark: the recommendation's true regret against the training steps spent, for
full-fidelity botorch-gp and the multi-fidelity halving-gp, on the synthetic families of optimizers.py.

Fidelity model: a trial scored at a fraction r of its steps (``--at``, default 0.25, 0.5, 1) gets
f(w) + lambda (1 - r) / (1 - r0) b(w) - shift (1 - r) + noise (1 + (1 - r)), where f is the family's score
function (optimum 0.52), b another instance of the same family rescaled to f's spread over the simplex (a
mixture-dependent bias that vanishes at the end of the run), r0 the first point, shift a level shift
(early scores are lower) and noise N(0, ``--noise``^2). lambda = sqrt(1/rho^2 - 1), so that the noise-free
score at r0 has correlation rho (``--rho``) with the final score over random mixtures.

Steps are counted in full runs: a trial to 25% costs 0.25, continuing it to 50% another 0.25. Both
strategies start with the uniform mixture trained to the end, as a study does. The recommendation (the
model's best final score among mixtures trained to the end) is asked at every whole unit of steps spent.

    nice -n 10 .venv/bin/python benchmarks/multifidelity.py                  # the suite (20 seeds)
    nice -n 10 .venv/bin/python benchmarks/multifidelity.py --seeds 4        # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from optimizers import FAMILIES, MEDIAN, RESULTS, make_problem  # noqa: E402  (it pins BLAS to one thread first)

import numpy as np  # noqa: E402

STRATEGIES = ("botorch-gp", "halving-gp")
SHIFT = 0.02


def fidelity_problem(family: str, m: int, instance: int, rho: float, at: list[float]):
    """(score at fraction r, true final score, optimum) for one instance."""
    final, optimum = make_problem(family, m, instance)
    other, _ = make_problem(family, m, instance + 100_000)
    cloud = np.random.default_rng([instance, 31]).dirichlet(np.ones(m), 4000)
    spread, other_values = np.std(final(cloud)), other(cloud)
    scale = spread / np.std(other_values)
    level = np.mean(other_values)
    strength = (1 / rho**2 - 1) ** 0.5

    def early(w, r):
        if r >= 1:
            return final(w)
        return final(w) + strength * (1 - r) / (1 - at[0]) * (other(w) - level) * scale - SHIFT * (1 - r)

    return early, final, optimum


def cache_key(job: dict) -> str:
    """botorch-gp sees final scores only, so its runs depend on neither rho nor the points and are shared."""
    halving = job["strategy"] == "halving-gp"
    rho, at = (job["rho"], "_".join(map(str, job["at"]))) if halving else ("any", "any")
    options = json.dumps(job["halving_options"], sort_keys=True) if halving else "{}"
    return (f"{job['family']}-m{job['m']}-i{job['instance']}-{job['strategy']}-rho{rho}-n{job['noise']}-"
            f"at{at}-B{job['budget']}" + ("" if options == "{}" else f"-{options}"))


def run_one(job: dict) -> dict:
    cached = Path(job["cache"]) / f"{cache_key(job)}.json" if job.get("cache") else None
    if cached is not None and cached.exists():
        return {**json.loads(cached.read_text()), "rho": job["rho"]}
    import torch

    torch.set_num_threads(1)
    from modomodo import HistoryError, Mixture, Observation, get_component

    family, m, instance, strategy, budget, at = (job[key] for key in
                                                 ("family", "m", "instance", "strategy", "budget", "at"))
    early, final, optimum = fidelity_problem(family, m, instance, job["rho"], at)
    domains = [f"d{i}" for i in range(m)]
    rng = np.random.default_rng([instance, 7919])
    options = job["halving_options"] if strategy == "halving-gp" else {}
    optimizer = get_component("optimizers", strategy)(domains, seed=instance, **options)
    history, weights, reached = [], {}, {}
    spent, regret, seconds, runs = 0.0, {}, [], 0

    def train(trial: str, w, start: float, stop: float) -> float:
        for r in at if strategy == "halving-gp" else [1.0]:
            if start < r <= stop:
                score = float(early(w, r) + rng.normal(0, job["noise"] * (2 - r)))
                history.append(Observation(Mixture(dict(zip(domains, w))), {"out_score": score}, r, trial))
        weights[trial], reached[trial] = w, stop
        return stop - start

    spent += train("t0", np.full(m, 1 / m), 0.0, 1.0)
    next_report = 1
    while spent < budget:
        started = time.perf_counter()
        if strategy == "halving-gp":
            proposed = optimizer.propose_runs(history, 1, at)
        else:
            from modomodo import Run

            proposed = [Run(optimizer.propose(history, 1)[0])]
        seconds.append(time.perf_counter() - started)
        for run in proposed:
            if run.trial is None:
                runs += 1
                trial, w, start = f"t{runs}", np.array(run.mixture.vector(domains)), 0.0
            else:
                trial, w, start = run.trial, weights[run.trial], reached[run.trial]
            spent += train(trial, w, start, run.fidelity)
        while next_report <= min(spent, budget):
            try:
                pick = optimizer.recommend(history, over_simplex=False)[0].mixture
                regret[next_report] = float(optimum - final(np.array(pick.vector(domains))))
            except HistoryError:
                regret[next_report] = float(optimum - MEDIAN)
            next_report += 1
    result = {**job, "regret": [regret[s] for s in range(1, budget + 1)], "proposal_seconds": seconds,
              "trials": runs + 1, "full_trials": sum(1 for r in reached.values() if r >= 1)}
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(result))
    return result


def summarise(runs: list[dict]) -> dict:
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run["family"], run["rho"], run["strategy"]), []).append(run)
    summary = {}
    for (family, rho, strategy), members in sorted(groups.items()):
        regret = np.array([r["regret"] for r in members])
        summary[f"{family}/rho={rho}/{strategy}"] = {
            "family": family, "rho": rho, "strategy": strategy, "seeds": len(members),
            "median": np.median(regret, axis=0).tolist(), "q1": np.quantile(regret, 0.25, axis=0).tolist(),
            "q3": np.quantile(regret, 0.75, axis=0).tolist(),
            "mean_trials": float(np.mean([r["trials"] for r in members])),
            "mean_full_trials": float(np.mean([r["full_trials"] for r in members])),
            "mean_proposal_seconds": float(np.mean([s for r in members for s in r["proposal_seconds"]])),
        }
    return summary


def steps_to_reach(median: list[float], level: float) -> int | None:
    """The whole number of steps (in full runs) from which on the median regret stays at most ``level``."""
    above = [s for s, value in enumerate(median, start=1) if value > level + 1e-12]
    if not above:
        return 1
    return above[-1] + 1 if above[-1] < len(median) else None


def markdown_table(summary: dict, budget: int) -> str:
    """Per family and rho: median regret at half and all of the budget for each strategy, and the steps
    halving-gp needs to reach what full-fidelity botorch-gp has after the whole budget."""
    half = budget // 2
    lines = [f"| family | rho | botorch-gp after {half} / {budget} | halving-gp after {half} / {budget} | "
             f"halving-gp steps until it stays at botorch-gp's regret at {budget} | trials (full) halving-gp |",
             "|---|---|---|---|---|---|"]
    panels = sorted({(s["family"], s["rho"]) for s in summary.values()})
    for family, rho in panels:
        full, partial = summary.get(f"{family}/rho={rho}/botorch-gp"), summary.get(f"{family}/rho={rho}/halving-gp")
        if full is None or partial is None:
            continue
        reach = steps_to_reach(partial["median"], full["median"][budget - 1])
        lines.append(f"| {family} | {rho} | {full['median'][half - 1]:.4f} / {full['median'][budget - 1]:.4f} | "
                     f"{partial['median'][half - 1]:.4f} / {partial['median'][budget - 1]:.4f} | "
                     f"{reach if reach else f'>{budget}'} | {partial['mean_trials']:.0f} "
                     f"({partial['mean_full_trials']:.0f}) |")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(s["family"], s["rho"]) for s in summary.values()})
    rows = sorted({rho for _, rho in panels})
    columns = sorted({family for family, _ in panels})
    figure, axes = plt.subplots(len(rows), len(columns), figsize=(5 * len(columns), 3.5 * len(rows)), squeeze=False)
    for entry in summary.values():
        axis = axes[rows.index(entry["rho"])][columns.index(entry["family"])]
        steps = np.arange(1, len(entry["median"]) + 1)
        line, = axis.plot(steps, entry["median"], label=entry["strategy"])
        axis.fill_between(steps, entry["q1"], entry["q3"], color=line.get_color(), alpha=0.15)
        axis.set(yscale="log", ylim=(1e-4, 0.2), title=f"{entry['family']}, early-final correlation {entry['rho']}",
                 xlabel="training steps spent (full runs)", ylabel="true regret of the recommendation")
    axes[0][0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--rho", type=float, nargs="+", default=[0.8, 0.3])
    parser.add_argument("--dims", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=30, help="training steps to spend, in full runs")
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--at", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--name", default="multifidelity")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--cache", default=str(Path(__file__).parent / ".cache" / "multifidelity"))
    parser.add_argument("--table", metavar="RESULTS", help="print the markdown table of a results file and stop")
    parser.add_argument("--halving-options", default="{}", help='halving-gp options as JSON, e.g. \'{"eta": 3}\'')
    args = parser.parse_args()
    if args.table:
        saved = json.loads(Path(args.table).read_text())
        print(markdown_table(saved["summary"], saved["settings"]["budget"]))
        return
    jobs = [{"family": family, "m": args.dims, "instance": instance, "strategy": strategy, "rho": rho,
             "noise": args.noise, "at": args.at, "budget": args.budget, "cache": args.cache,
             "halving_options": json.loads(args.halving_options)}
            for instance in range(args.seeds) for family in args.families for rho in args.rho
            for strategy in STRATEGIES]
    started = time.time()
    runs = []
    with ProcessPoolExecutor(args.workers) as pool:
        for index, run in enumerate(pool.map(run_one, jobs), start=1):
            runs.append(run)
            print(f"[{index}/{len(jobs)}] {run['family']} rho={run['rho']} {run['strategy']} seed {run['instance']}: "
                  f"regret after {args.budget // 2} / {args.budget} steps {run['regret'][args.budget // 2 - 1]:.4f} / "
                  f"{run['regret'][-1]:.4f} ({time.time() - started:.0f} s)", flush=True)
    summary = summarise(runs)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    data = {"settings": vars(args), "fidelity_model": {"shift": SHIFT}, "summary": summary,
            "table": markdown_table(summary, args.budget), "seconds": time.time() - started}
    (results / f"{args.name}.json").write_text(json.dumps(data, indent=1))
    plot(summary, results / f"{args.name}.png")
    print(data["table"])


if __name__ == "__main__":
    main()
