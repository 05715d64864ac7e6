"""Regret benchmark for the mixture optimizers on score functions of known optimum.

Suite: three families on the simplex, each with dataset interactions: a quadratic with a random
interaction matrix, the exponential data-mixing-law form (Out-Score = sum over benchmarks of
p_k (c - exp(t_k . w)), Ye et al. 2024, one benchmark led by each domain), and a multi-modal sum of
Gaussian bumps. Every instance is rescaled to the paper's scale: optimum 0.52, median random mixture 0.47
(Table 2: best seed 0.515, uniform 0.461), and each observation gets N(0, noise^2) noise (``--noise``; the
paper's run-to-run scale is 0.01-0.02).

Two picks are scored after every round, by their true regret (f* minus the true score of the pick): the
tried mixture with the best *observed* score (what a user reading the ledger would pick; a winner's-curse
pick under noise) and the strategy's *recommendation* (its model's best tried mixture, ``recommend``; the
same best observed mixture for strategies without a model). Trials-to-target is the first t at which the
median regret over seeds is <= 0.005. Protocols: quad-surface and quadratic always start with the paper's
2m+1 seed runs; botorch-gp starts with its own design (``own``) or with the seed runs too (``paper``).
Finished runs are cached (``--cache``), so an interrupted suite resumes and a larger one reuses them.

    nice -n 10 .venv/bin/python benchmarks/optimizers.py                      # the full suite
    nice -n 10 .venv/bin/python benchmarks/optimizers.py --dims 5 --seeds 4   # a quick look
    .venv/bin/python benchmarks/optimizers.py --paired benchmarks/results/optimizers-m5.json  # seed by seed
    .venv/bin/python benchmarks/optimizers.py --gaps benchmarks/results/optimizers-m5.json    # trials-to-target gaps
    .venv/bin/python benchmarks/optimizers.py --docs   # docs/optimizers.md's regret section from the results
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # before numpy loads BLAS: one thread per run, and the same sums every time
import numpy as np  # noqa: E402

OPTIMUM, MEDIAN, LATENCY_NOISE_SD, TARGET = 0.52, 0.47, 0.01, 0.005
FAMILIES = ("quadratic", "mixing-law", "multimodal")
STRATEGIES = ("uniform", "random", "quad-surface", "quadratic", "botorch-gp")
SEEDED_BY_DESIGN = ("quad-surface", "quadratic")
RESULTS = Path(__file__).parent / "results"
DOCS = Path(__file__).parent.parent / "docs" / "optimizers.md"
SECTION_HEADING = "## Regret benchmark"
SECTION_TEMPLATE = Path(__file__).parent / "docs-templates" / "optimizers-regret.md"  # the section, tables as markers
TEMPLATE_MARKER = re.compile(r"\{\{([a-z-]+):([^}]+)\}\}")


def raw_function(family: str, m: int, rng: np.random.Generator):
    """An unscaled score function of w (vectorised over rows) for one random instance."""
    if family == "quadratic":
        # Mostly concave (diminishing returns of each domain) plus random pairwise synergies and conflicts.
        linear = rng.normal(0, 1, m)
        spread = rng.normal(0, 1, (m, m))
        synergy = rng.normal(0, 1, (m, m))
        interactions = -2 * spread @ spread.T / m + (synergy + synergy.T) / 2
        return lambda w: w @ linear + np.einsum("...i,ij,...j->...", w, interactions, w)
    if family == "mixing-law":
        # One benchmark per domain: its loss c + k exp(t . w) falls fastest with its own domain (t_kk in
        # [-4, -2]) and a little with, or against, the others (transfer and interference, N(0, 0.5)).
        shares = rng.dirichlet(np.full(m, 2.0))
        exponents = rng.normal(0, 0.5, (m, m)) - np.diag(rng.uniform(2, 4, m))
        return lambda w: -(np.exp(w @ exponents.T) @ shares)
    heights, centres = rng.uniform(0.5, 1.0, 3), rng.dirichlet(np.ones(m), 3)
    widths = rng.uniform(0.15, 0.3, 3)
    return lambda w: (heights * np.exp(-((w[..., None, :] - centres) ** 2).sum(-1) / (2 * widths**2))).sum(-1)


def maximise(function, m: int, rng: np.random.Generator) -> float:
    """The global maximum on the simplex: the best of a dense cloud, polished by multi-start SLSQP."""
    from scipy.optimize import minimize

    cloud = np.vstack([np.eye(m), rng.dirichlet(np.ones(m), 20000), rng.dirichlet(np.full(m, 0.2), 20000)])
    values = function(cloud)
    best = values.max()
    for start in cloud[np.argsort(-values)[:20]]:
        result = minimize(lambda w: -function(w), start, method="SLSQP", bounds=[(0, 1)] * m,
                          constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}])
        point = np.clip(result.x, 0, None) / np.clip(result.x, 0, None).sum()
        best = max(best, float(function(point)))
    return best


def make_problem(family: str, m: int, instance: int):
    """(scaled score function, its maximum) for one instance; the same instance for every strategy."""
    rng = np.random.default_rng([FAMILIES.index(family), m, instance])
    raw = raw_function(family, m, rng)
    top = maximise(raw, m, rng)
    median = float(np.median(raw(rng.dirichlet(np.ones(m), 4000))))
    scale = (OPTIMUM - MEDIAN) / (top - median)
    return (lambda w: OPTIMUM + scale * (raw(w) - top)), OPTIMUM


def strategy_options(job: dict) -> dict:
    """The options a job's strategy is built with: ``--gp-options`` for botorch-gp; for quad-surface in ten or more
    domains 10^6 Gaussian samples, since the Gaussian that Algorithm 4 fits to the seed runs lands on the
    12-domain simplex about once in 22,000 draws and its default 10,000 would leave it nothing to propose."""
    if job["strategy"] == "botorch-gp":
        return job["gp_options"]
    if job["strategy"] == "quad-surface" and job["m"] >= 10:
        return {"samples": 1_000_000}
    return {}


RECOMMENDATION_ONLY = ("recommendation", "confidence_over_uniform")  # botorch-gp options that change what it recommends, not what it proposes


def proposals_run(job: dict) -> dict | None:
    """A cached run whose proposals a botorch-gp job would repeat: the same job with other settings of the
    options that change only the recommendation (the default's included). Its history is replayed and only
    the recommendations are computed anew, which costs a fraction of proposing again. None when there is no
    such run in the cache."""
    if job["strategy"] != "botorch-gp" or not job.get("cache") or not Path(job["cache"]).is_dir():
        return None

    def proposing(options: dict) -> dict:
        return {key: value for key, value in options.items() if key not in RECOMMENDATION_ONLY}

    prefix = job_key({**job, "gp_options": {}}).removesuffix("{}")
    for path in sorted(Path(job["cache"]).iterdir()):
        if path.name.startswith(prefix):
            run = json.loads(path.read_text())
            if proposing(run["gp_options"]) == proposing(job["gp_options"]):
                return run
    return None


def job_key(job: dict) -> str:
    options = json.dumps(strategy_options(job), sort_keys=True)
    return (f"{job['family']}-m{job['m']}-i{job['instance']}-{job['strategy']}-b{job['batch']}-n{job['noise']}-"
            f"{job['protocol']}-B{job['budget']}-{options}")


def run_one(job: dict) -> dict:
    """One strategy on one problem instance with one seed: the true regret over trials 1..budget of the best
    observed mixture and of the strategy's recommendation (its model's pick among the tried mixtures, asked
    after every round; the best observed mixture for strategies without a model). Cached under ``cache``. A
    botorch-gp job whose options differ from a cached run's only in what it recommends replays that run's
    proposals (``proposals_run``)."""
    cached = Path(job["cache"]) / f"{job_key(job)}.json" if job.get("cache") else None
    if cached is not None and cached.exists():
        return {**json.loads(cached.read_text()), "from_cache": True}
    import torch

    torch.set_num_threads(1)
    from modomodo import HistoryError, Mixture, Observation, best_observed, get_component

    family, m, instance, strategy, batch, budget = (job[k] for k in
                                                   ("family", "m", "instance", "strategy", "batch", "budget"))
    function, optimum = make_problem(family, m, instance)
    domains = [f"d{i}" for i in range(m)]
    noise = np.random.default_rng([instance, 7919])
    optimizer = get_component("optimizers", strategy)(domains, seed=instance, **strategy_options(job))
    seeded = strategy in SEEDED_BY_DESIGN or (strategy == "botorch-gp" and job["protocol"] == "paper")
    seeder = get_component("optimizers", "seed")(domains) if seeded else None
    history, proposal_seconds, observed_pick, recommended_pick = [], [], [], []
    replay = proposals_run(job)

    def truth(mixture) -> float:
        return float(function(np.array(mixture.vector(domains))))

    while len(history) < budget:
        n = min(batch, budget - len(history))
        started = time.perf_counter()
        if seeder is not None and len(history) < 2 * m + 1:  # the paper's seed runs come first
            mixtures = seeder.propose(history, n)
        elif replay is not None:
            mixtures = [Mixture(dict(zip(domains, row[:m]))) for row in replay["history"][len(history):len(history) + n]]
        else:
            mixtures = optimizer.propose(history, n)
            proposal_seconds.append(time.perf_counter() - started)
        for mixture in mixtures:
            w = np.array(mixture.vector(domains))
            score = float(function(w) + noise.normal(0, job["noise"]))
            if replay is not None and score != replay["history"][len(history)][m]:
                raise RuntimeError(f"{job_key(job)}: the replayed run's score {len(history) + 1} differs")
            history.append(Observation(mixture=Mixture(dict(zip(domains, w))), scores={"out_score": score}))
        observed = best_observed(history, "out_score").mixture
        recommended = observed
        if hasattr(optimizer, "recommend"):
            try:
                recommended = optimizer.recommend(history, over_simplex=False)[0].mixture
            except HistoryError:
                pass
        observed_pick += [optimum - truth(observed)] * len(mixtures)
        recommended_pick += [optimum - truth(recommended)] * len(mixtures)
    truths = np.array([truth(o.mixture) for o in history])
    in_sample = [optimum - truths[:t].max() for t in range(1, budget + 1)]
    if replay is not None:
        proposal_seconds = replay["proposal_seconds"]  # the proposals are the replayed run's
    result = {**job, "regret": observed_pick, "recommended_regret": recommended_pick, "in_sample_regret": in_sample,
              "proposal_seconds": proposal_seconds,
              "history": [[*o.mixture.vector(domains), o.scores["out_score"]] for o in history]}  # for later analysis
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(result))
    return result


def trials_to_target(median: np.ndarray) -> int | None:
    reached = np.nonzero(median <= TARGET)[0]
    return int(reached[0] + 1) if len(reached) else None


def trials_to_target_interval(regrets: np.ndarray, resamples: int = 1000) -> list[int | None]:
    """The 10th and 90th percentile of trials-to-target over bootstrap resamples of the seeds (None: beyond the
    budget): how far a difference of a few trials between two strategies is from seed-to-seed chance."""
    rng = np.random.default_rng(0)
    budget = regrets.shape[1]
    draws = [trials_to_target(np.median(regrets[rng.integers(0, len(regrets), len(regrets))], axis=0)) or budget + 1
             for _ in range(resamples)]
    return [int(t) if t <= budget else None for t in np.quantile(draws, [0.1, 0.9], method="nearest")]


def summarise(runs: list[dict], checkpoints: list[int]) -> dict:
    """Per (family, m, batch, noise, protocol, strategy): median and quartiles of both regrets at every trial,
    and trials-to-target for each."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        key = (run["family"], run["m"], run["batch"], run["noise"], run["protocol"], run["strategy"])
        groups.setdefault(key, []).append(run)
    summary = {}
    for (family, m, batch, noise, protocol, strategy), members in sorted(groups.items()):
        members = sorted(members, key=lambda run: run["instance"])
        observed = np.array([r["regret"] for r in members])
        recommended = np.array([r["recommended_regret"] for r in members])
        median, median_recommended = np.median(observed, axis=0), np.median(recommended, axis=0)
        seconds = [s for r in members for s in r["proposal_seconds"]]
        summary[f"{family}/m={m}/batch={batch}/noise={noise}/{protocol}/{strategy}"] = {
            "family": family, "m": m, "batch": batch, "noise": noise, "protocol": protocol, "strategy": strategy,
            "seeds": len(members),
            "median": median.tolist(), "q1": np.quantile(observed, 0.25, axis=0).tolist(),
            "q3": np.quantile(observed, 0.75, axis=0).tolist(),
            "median_recommended": median_recommended.tolist(),
            "q1_recommended": np.quantile(recommended, 0.25, axis=0).tolist(),
            "q3_recommended": np.quantile(recommended, 0.75, axis=0).tolist(),
            "median_in_sample": np.median([r["in_sample_regret"] for r in members], axis=0).tolist(),
            "at_checkpoints": {t: float(median[t - 1]) for t in checkpoints},
            "at_checkpoints_recommended": {t: float(median_recommended[t - 1]) for t in checkpoints},
            "instances": [r["instance"] for r in members],  # the problem instances, in the order of the next lists
            "recommended_per_seed": {t: recommended[:, t - 1].tolist() for t in checkpoints},
            "recommended_per_trial": recommended.tolist(),  # per instance, every trial: for ``--gaps``
            "trials_to_target": trials_to_target(median),
            "trials_to_target_recommended": trials_to_target(median_recommended),
            "trials_to_target_recommended_interval": trials_to_target_interval(recommended),
            "mean_proposal_seconds": float(np.mean(seconds)) if seconds else 0.0,
        }
    return summary


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(s["family"], s["m"], s["batch"], s["noise"], s["protocol"]) for s in summary.values()})
    columns = 3
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.5 * rows), squeeze=False)
    for axis, panel in zip(axes.flat, panels):
        family, m, batch, noise, protocol = panel
        for entry in (s for s in summary.values()
                      if (s["family"], s["m"], s["batch"], s["noise"], s["protocol"]) == panel):
            trials = np.arange(1, len(entry["median"]) + 1)
            line, = axis.plot(trials, entry["median_recommended"], label=entry["strategy"])
            axis.fill_between(trials, entry["q1_recommended"], entry["q3_recommended"], color=line.get_color(),
                              alpha=0.15)
            axis.plot(trials, entry["median"], color=line.get_color(), linestyle="--", linewidth=0.8)
        axis.axhline(TARGET, color="grey", linestyle=":")
        axis.set(yscale="log", ylim=(1e-4, 0.2), title=f"{family}, m={m}, batch {batch}, noise {noise}, {protocol}",
                 xlabel="trials", ylabel="true regret (solid: recommended, dashed: best observed)")
    for axis in axes.flat[len(panels):]:
        axis.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def latency(repeats: int = 5) -> dict:
    """Wall and CPU seconds of one botorch-gp proposal of 4 from 50 noisy observations in 5 domains."""
    import torch

    torch.set_num_threads(1)
    from modomodo import Mixture, Observation, get_component

    function, _ = make_problem("multimodal", 5, 0)
    rng = np.random.default_rng(0)
    domains = [f"d{i}" for i in range(5)]
    history = [Observation(Mixture.normalised(zip(domains, w)), {"out_score": float(function(w) + rng.normal(0, LATENCY_NOISE_SD))})
               for w in rng.dirichlet(np.ones(5), 50)]
    wall, cpu = [], []
    for repeat in range(repeats):
        optimizer = get_component("optimizers", "botorch-gp")(domains, seed=repeat)
        started, started_cpu = time.perf_counter(), time.process_time()
        optimizer.propose(history, 4)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    result = {"wall_seconds": wall, "cpu_seconds": cpu, "median_wall": float(np.median(wall)),
              "median_cpu": float(np.median(cpu)), "load_average": os.getloadavg()}
    print(f"botorch-gp, 4 proposals from 50 observations in 5 domains: median {result['median_wall']:.2f} s wall, "
          f"{result['median_cpu']:.2f} s CPU over {repeats} repeats (load average {result['load_average'][0]:.1f})")
    return result


def options_label(settings: dict) -> str:
    """The botorch-gp options a results file was made with, as the tables name them ("default": none)."""
    options = json.loads(settings.get("gp_options", "{}"))
    return ", ".join(f"{key} {value}" for key, value in sorted(options.items())) or "default"


def summary_entries(paths: list[str]):
    """(results file, its botorch-gp options label, summary entry) for every entry of the given results files."""
    for path in paths:
        data = json.loads(Path(path).read_text())
        options = options_label(data["settings"])
        for entry in data["summary"].values():
            yield path, options, entry


def panel_of(entry: dict) -> tuple:
    """The problem a summary entry is about, whatever the strategy and protocol: family, m, batch, noise."""
    return entry["family"], entry["m"], entry["batch"], entry["noise"]


def reading_points(entries) -> tuple[int, ...]:
    """The trial counts the tables read the summary ``entries``' regrets at: 15 and 30, and the budget of any run
    that went longer."""
    budgets = {len(entry["median"]) for entry in entries}
    return (15, 30, *sorted(budget for budget in budgets if budget > 30))


def markdown_table(paths: list[str], at: tuple[int, ...] | None = None) -> str:
    """The docs' table from results files: per family, batch and strategy (botorch-gp labelled by its
    options), the median true regret of the recommendation / of the best observed mixture after ``at``
    trials (``reading_points`` by default), and trials-to-target of each."""
    entries = list(summary_entries(paths))
    at = at or reading_points(entry for _, _, entry in entries)
    rows = {}
    for _, options, entry in entries:
        label = entry["strategy"] + (f" ({options})" if entry["strategy"] == "botorch-gp" else "")
        rows[(*panel_of(entry), entry["protocol"], label)] = entry
    header = ["family", "m", "batch", "noise", "protocol", "strategy"]
    header += [f"after {t}: recommended / observed" for t in at] + ["trials to target", "recommended: 80% interval"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (family, m, batch, noise, protocol, label), entry in sorted(rows.items()):
        cells = [family, str(m), str(batch), str(noise), protocol, label]
        for t in at:
            if t <= len(entry["median"]):
                cells.append(f"{entry['median_recommended'][t - 1]:.4f} / {entry['median'][t - 1]:.4f}")
            else:
                cells.append("-")
        budget = len(entry["median"])

        def trials(value: int | None) -> str:
            return str(value) if value else f">{budget}"

        cells.append(f"{trials(entry['trials_to_target_recommended'])} / {trials(entry['trials_to_target'])}")
        interval = entry.get("trials_to_target_recommended_interval")  # absent from results made before it
        low, high = map(trials, interval) if interval else ("-", "-")
        cells.append(low if low == high else f"{low}–{high}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sign_test(mine: dict, theirs: dict, t: int) -> tuple[int, int, float] | None:
    """On the instances two summary entries share, after t trials: on how many the first's recommendation has the
    lower true regret, on how many the higher (equal picks are neither), and the two-sided sign test's p-value;
    None when they share no instance."""
    from scipy.stats import binomtest

    ours = dict(zip(mine["instances"], mine["recommended_per_seed"].get(str(t), [])))
    others = dict(zip(theirs["instances"], theirs["recommended_per_seed"].get(str(t), [])))
    shared = sorted(set(ours) & set(others))
    if not shared:
        return None
    lower = sum(ours[i] < others[i] for i in shared)
    higher = sum(ours[i] > others[i] for i in shared)
    return lower, higher, binomtest(lower, lower + higher).pvalue if lower + higher else 1.0


def sign_test_cells(mine: dict, theirs: dict, at: tuple[int, ...], tally: dict[int, list[int]]) -> list[str]:
    """One "lower / higher (p)" cell of ``sign_test`` per trial count in ``at`` ("-" where the entries share no
    instance), each comparison counted in ``tally[t]``: [first significantly lower, second, neither]."""
    cells = []
    for t in at:
        test = sign_test(mine, theirs, t)
        if test is None:
            cells.append("-")
            continue
        lower, higher, p = test
        cells.append(f"{lower} / {higher} ({p:.3f})")
        tally.setdefault(t, [0, 0, 0])[2 if p >= 0.05 else 0 if lower > higher else 1] += 1
    return cells


def entries_with(paths: list[str], field: str, saved: str, purpose: str):
    """``summary_entries``, refusing results files made before ``field`` (``saved``, in words) was kept: they
    cannot serve ``purpose``, and rerunning their command from the cache adds it."""
    for path, options, entry in summary_entries(paths):
        if field not in entry:
            raise SystemExit(f"{path}: made before {saved} were saved; rerun its command (the cache makes that "
                             f"quick) to {purpose}")
        yield path, options, entry


def per_seed_entries(paths: list[str]):
    """``summary_entries`` with the per-instance regrets at the checkpoints, for comparisons seed by seed."""
    return entries_with(paths, "recommended_per_seed", "per-seed regrets", "compare strategies seed by seed")


def gp_and_rivals(entries) -> tuple[dict[tuple, dict], dict[tuple, dict[str, dict]]]:
    """From (path, options, entry) triples: botorch-gp's entries by (family, m, batch, noise, "options, design"),
    and every other strategy's by panel, then name (the others do not depend on the design)."""
    gps: dict[tuple, dict] = {}
    rivals: dict[tuple, dict[str, dict]] = {}
    for _, options, entry in entries:
        if entry["strategy"] == "botorch-gp":
            gps[(*panel_of(entry), f"{options}, {entry['protocol']}")] = entry
        else:
            rivals.setdefault(panel_of(entry), {})[entry["strategy"]] = entry
    return gps, rivals


def paired_table(paths: list[str], at: tuple[int, ...] | None = None) -> str:
    """botorch-gp against every other strategy on the same problem instances: after ``at`` trials
    (``reading_points`` by default), on how many instances its recommendation has the lower true regret and on
    how many the higher (equal picks are neither), with the two-sided sign test's p-value; a trials-to-target
    gap of a few trials with p well above 0.05 is the luck of the seeds."""
    entries = list(per_seed_entries(paths))
    at = at or reading_points(entry for _, _, entry in entries)
    gps, rivals = gp_and_rivals(entries)
    header = ["family", "m", "batch", "noise", "botorch-gp (options, design)", "rival"]
    header += [f"after {t}: botorch-gp lower / higher (p)" for t in at]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    verdicts: dict[str, dict[int, list[int]]] = {}  # rival, then t: as ``sign_test_cells`` counts them
    for (*panel, label), mine in sorted(gps.items()):
        for rival, theirs in sorted(rivals.get(tuple(panel), {}).items()):
            cells = sign_test_cells(mine, theirs, at, verdicts.setdefault(rival, {}))
            lines.append("| " + " | ".join([*map(str, panel), label, rival, *cells]) + " |")
    lines.append("")
    for rival, by_trials in sorted(verdicts.items()):
        for t, (ours, theirs, neither) in sorted(by_trials.items()):
            lines.append(f"- against {rival} after {t} trials: botorch-gp lower on significantly more instances "
                         f"(sign test p < 0.05) in {ours} of {ours + theirs + neither} comparisons, {rival} in "
                         f"{theirs}")
    return "\n".join(lines)


def versus_comparison(first: str, second: str,
                      at: tuple[int, ...] | None = None) -> tuple[list[str], dict, str, str]:
    """botorch-gp of one results file against that of another, in every panel and protocol both hold, after
    ``at`` trials (``reading_points`` by default): the table's lines, the count per t of comparisons each side
    wins at p < 0.05 (as ``sign_test_cells`` counts them), and the two option labels."""
    def gps(path: str) -> tuple[str, dict]:
        entries = [(options, entry) for _, options, entry in per_seed_entries([path])
                   if entry["strategy"] == "botorch-gp"]
        label = entries[0][0] if entries else "-"
        return label, {(*panel_of(entry), entry["protocol"]): entry for _, entry in entries}

    (mine_label, mine), (their_label, theirs) = gps(first), gps(second)
    at = at or reading_points([*mine.values(), *theirs.values()])
    header = ["family", "m", "batch", "noise", "protocol"]
    header += [f"after {t}: {mine_label} lower / higher (p)" for t in at]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    verdicts: dict[int, list[int]] = {t: [0, 0, 0] for t in at}
    for key in sorted(set(mine) & set(theirs)):
        cells = sign_test_cells(mine[key], theirs[key], at, verdicts)
        lines.append("| " + " | ".join([*map(str, key), *cells]) + " |")
    return lines, verdicts, mine_label, their_label


def versus_table(first: str, second: str, at: tuple[int, ...] | None = None) -> str:
    """botorch-gp of one results file against botorch-gp of another (two settings of its options), instance by
    instance in every panel and protocol both hold, then the count of comparisons each side wins at p < 0.05."""
    lines, verdicts, mine_label, their_label = versus_comparison(first, second, at)
    lines.append("")
    for t, (ours, others, neither) in verdicts.items():
        lines.append(f"- after {t} trials: botorch-gp ({mine_label}) lower on significantly more instances (sign "
                     f"test p < 0.05) in {ours} of {ours + others + neither} comparisons, botorch-gp ({their_label}) "
                     f"in {others}")
    return "\n".join(lines)


def versus_summary(first: str, second: str, at: tuple[int, ...] | None = None) -> str:
    """``versus_table``'s counts in one sentence, for a list item of the docs."""
    _, verdicts, mine_label, their_label = versus_comparison(first, second, at)
    return "; ".join(f"after {t} trials, {mine_label} significantly lower (p < 0.05) in {ours} of "
                     f"{ours + others + neither} panels, {their_label} in {others}"
                     for t, (ours, others, neither) in verdicts.items())


def target_checks(paths: list[str], after: int = 10, picks_from: int = 15) -> str:
    """Per panel, for each botorch-gp entry: the trials from ``after`` on at which its recommendation's median
    regret is above uniform's (the never-worse-than-uniform check), and at how many trials from
    ``picks_from`` on the recommendation's median is below the best observed trial's (the model's pick against
    the winner's-curse pick)."""
    lines = ["| family | m | batch | noise | protocol | botorch-gp | above uniform at trials | recommendation "
             "below best observed |", "|" + "---|" * 8]
    entries = list(summary_entries(paths))
    uniform = {panel_of(entry): entry for _, _, entry in entries if entry["strategy"] == "uniform"}
    for _, options, entry in entries:
        if entry["strategy"] != "botorch-gp":
            continue
        recommended, observed = np.array(entry["median_recommended"]), np.array(entry["median"])
        baseline = uniform.get(panel_of(entry))
        if baseline is None:
            above = "-"
        else:
            worse = [t for t in range(after, len(recommended) + 1)
                     if recommended[t - 1] > baseline["median_recommended"][t - 1]]
            above = ", ".join(map(str, worse)) or "none"
        later = range(picks_from, len(recommended) + 1)
        below = sum(recommended[t - 1] < observed[t - 1] for t in later)
        lines.append("| " + " | ".join([*map(str, panel_of(entry)), entry["protocol"], options, above,
                                         f"{below} of {len(later)}"]) + " |")
    return "\n".join(lines)


def trials_to_target_gap(mine: np.ndarray, theirs: np.ndarray, resamples: int = 1000) -> tuple[int, list[int]]:
    """The first strategy's trials-to-target minus the second's, on the same instances (row i of each is one
    instance), and the 10th and 90th percentile of that difference over bootstrap resamples of the instances,
    both strategies resampled together; a target not reached counts as budget + 1."""
    budget = mine.shape[1]

    def gap(rows) -> int:
        first, second = (trials_to_target(np.median(regrets[rows], axis=0)) or budget + 1 for regrets in (mine, theirs))
        return first - second

    rng = np.random.default_rng(0)
    draws = [gap(rng.integers(0, len(mine), len(mine))) for _ in range(resamples)]
    return gap(np.arange(len(mine))), [int(d) for d in np.quantile(draws, [0.1, 0.9], method="nearest")]


def gaps_table(paths: list[str]) -> str:
    """botorch-gp's trials-to-target against every other strategy's, per panel and design, on the instances they
    share: each one's trials, botorch-gp's minus the rival's, and the 80% paired-bootstrap interval of that
    difference (whether a gap of a few trials says more than the luck of the instances). Only rivals that reach
    the target are listed: they are what botorch-gp's trials are measured against."""
    gps, rivals = gp_and_rivals(entries_with(paths, "recommended_per_trial", "per-trial regrets",
                                             "compare trials to the target with their spread"))
    lines = ["| family | m | batch | noise | botorch-gp (options, design) | rival | trials to target: botorch-gp / "
             "rival | difference | 80% interval |", "|" + "---|" * 9]
    for (*panel, label), mine in sorted(gps.items()):
        for rival, theirs in sorted(rivals.get(tuple(panel), {}).items()):
            shared = sorted(set(mine["instances"]) & set(theirs["instances"]))
            if not shared:
                continue
            curves = [np.array(entry["recommended_per_trial"])[[entry["instances"].index(i) for i in shared]]
                      for entry in (mine, theirs)]
            budget = curves[0].shape[1]
            reached = [trials_to_target(np.median(curve, axis=0)) for curve in curves]
            if reached[1] is None:
                continue
            difference, (low, high) = trials_to_target_gap(*curves)
            shown = " / ".join(str(t) if t else f">{budget}" for t in reached)
            lines.append("| " + " | ".join([*map(str, panel), label, rival, shown, f"{difference:+d}",
                                             f"{low:+d} to {high:+d}"]) + " |")
    return "\n".join(lines)


def regret_section(template: str, results: Path = RESULTS) -> str:
    """The docs' regret benchmark section: ``template`` with every ``{{kind:file ...}}`` replaced by the named
    output on those results files, so its tables are never typed by hand. Kinds: ``table``, ``table-gp``
    (header and botorch-gp rows), ``paired`` and ``paired-summary`` (``--paired``'s table, its counts),
    ``versus`` and ``versus-summary`` (``--versus``'s table, its counts in a sentence), ``checks``, ``gaps``."""
    def gp_rows(text: str) -> str:
        lines = text.splitlines()
        return "\n".join(lines[:2] + [line for line in lines[2:] if "botorch-gp" in line])

    kinds = {"table": markdown_table, "table-gp": lambda paths: gp_rows(markdown_table(paths)),
             "paired": lambda paths: paired_table(paths).split("\n\n")[0],
             "paired-summary": lambda paths: paired_table(paths).split("\n\n")[1],
             "versus": lambda paths: "\n".join(versus_comparison(*paths)[0]),
             "versus-summary": lambda paths: versus_summary(*paths), "checks": target_checks, "gaps": gaps_table}

    def expand(marker: re.Match) -> str:
        kind, paths = marker.group(1), [results / name for name in marker.group(2).split()]
        if kind not in kinds:
            raise SystemExit(f"{SECTION_TEMPLATE.name}: unknown marker {{{{{kind}:...}}}}; expected one of "
                             f"{', '.join(kinds)}")
        missing = [path.name for path in paths if not path.exists()]
        if missing:
            raise SystemExit(f"{SECTION_TEMPLATE.name}: {{{{{kind}:...}}}} names {', '.join(missing)}, not in "
                             f"{results}; run the suite that writes it first")
        return kinds[kind]([str(path) for path in paths])

    return TEMPLATE_MARKER.sub(expand, template).rstrip() + "\n"


def docs_section(docs: str) -> str:
    """The regret benchmark section of docs/optimizers.md: from its heading to the blank line before the next
    section's, which is not part of it."""
    start = docs.index(SECTION_HEADING)
    return docs[start:docs.index("\n\n## ", start + len(SECTION_HEADING)) + 1]


def write_docs_section() -> None:
    """Replace the regret benchmark section of docs/optimizers.md with ``regret_section`` of the template."""
    docs = DOCS.read_text()
    old = docs_section(docs)
    DOCS.write_text(docs.replace(old, regret_section(SECTION_TEMPLATE.read_text())))
    print(f"{DOCS}: regret benchmark section regenerated from {SECTION_TEMPLATE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, nargs="+", default=[3, 5, 8, 12])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--name", default="optimizers")
    parser.add_argument("--results", default=str(RESULTS), help="folder for <name>.json and <name>.png")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.01, 0.02], help="sd of each observation's noise")
    parser.add_argument("--protocols", nargs="+", default=["own", "paper"], choices=["own", "paper"],
                        help="own: botorch-gp starts with its own design; paper: with the 2m+1 seed runs, as the "
                             "quadratic models always do")
    parser.add_argument("--cache", default=str(Path(__file__).parent / ".cache" / "optimizers"),
                        help="one JSON per finished run, reused when the same run is asked again ('' for none)")
    parser.add_argument("--gp-options", default="{}", help='botorch-gp options as JSON, e.g. \'{"initial": "seed"}\'')
    parser.add_argument("--latency", action="store_true", help="only time one botorch-gp proposal of 4 (50 obs, 5 domains)")
    parser.add_argument("--table", nargs="+", metavar="RESULTS", help="print the docs' markdown table from results files")
    parser.add_argument("--paired", nargs="+", metavar="RESULTS",
                        help="print botorch-gp against each other strategy, instance by instance, from results files")
    parser.add_argument("--versus", nargs=2, metavar=("RESULTS", "OTHER"),
                        help="print botorch-gp of one results file against that of another (other options), "
                             "instance by instance")
    parser.add_argument("--checks", nargs="+", metavar="RESULTS",
                        help="print, per panel, where botorch-gp's recommendation is behind uniform (from trial 10) "
                             "and how often it is ahead of the best observed trial (from trial 15)")
    parser.add_argument("--gaps", nargs="+", metavar="RESULTS",
                        help="print botorch-gp's trials to the target minus each other strategy's, with the 80%% "
                             "interval of that difference over paired bootstrap resamples of the instances")
    parser.add_argument("--docs", action="store_true",
                        help=f"regenerate the regret section of docs/optimizers.md from {SECTION_TEMPLATE.name} and "
                             "the results files it names")
    args = parser.parse_args()
    try:
        gp_options = json.loads(args.gp_options)
    except json.JSONDecodeError as error:
        parser.error(f"--gp-options {args.gp_options!r} is not JSON ({error}); expected e.g. '{{\"initial\": \"seed\"}}'")
    if args.docs:
        write_docs_section()
        return
    if args.paired:
        print(paired_table(args.paired))
        return
    if args.checks:
        print(target_checks(args.checks))
        return
    if args.gaps:
        print(gaps_table(args.gaps))
        return
    if args.versus:
        print(versus_table(*args.versus))
        return
    if args.table:
        print(markdown_table(args.table))
        return
    if args.latency:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "botorch_gp_latency.json").write_text(json.dumps(latency(), indent=1))
        return
    jobs = [{"family": f, "m": m, "instance": i, "strategy": s, "batch": b, "budget": args.budget, "noise": noise,
             "protocol": protocol, "gp_options": gp_options, "cache": args.cache}
            for m in args.dims for f in args.families for b in args.batches for s in args.strategies
            for noise in args.noise for protocol in args.protocols for i in range(args.seeds)
            if protocol == "paper" or s == "botorch-gp" or len(args.protocols) == 1]  # only botorch-gp differs
    started = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        runs = []
        for run in pool.map(run_one, jobs):
            runs.append(run)
            if len(runs) % 20 == 0:
                print(f"{len(runs)}/{len(jobs)} runs, {time.time() - started:.0f} s", flush=True)
    checkpoints = [t for t in range(5, args.budget + 1, 5)]
    summary = summarise(runs, checkpoints)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{args.name}.json").write_text(json.dumps(
        {"settings": vars(args), "target": TARGET, "wall_seconds": time.time() - started,
         "runs_from_cache": sum(run.get("from_cache", False) for run in runs), "summary": summary},
        indent=1))
    plot(summary, results / f"{args.name}.png")
    print(f"\nTrials until the median true regret is <= {TARGET} (>{args.budget}: not reached), of the recommended "
          "mixture / of the best observed one; median regret of the recommendation at 10 and at the budget")
    for entry in summary.values():
        ttt = [entry["trials_to_target_recommended"], entry["trials_to_target"]]
        shown = " / ".join(str(t) if t else f">{args.budget}" for t in ttt)
        print(f"{entry['family']:>11} m={entry['m']:<2} batch={entry['batch']} noise={entry['noise']} "
              f"{entry['protocol']:>5} {entry['strategy']:>12}: {shown:>11}   "
              f"{entry['median_recommended'][min(9, args.budget - 1)]:.4f}  {entry['median_recommended'][-1]:.4f}   "
              f"({entry['mean_proposal_seconds']:.2f} s/proposal)")
    print(f"wall time {time.time() - started:.0f} s; results in {results / args.name}.json/.png")


if __name__ == "__main__":
    main()
