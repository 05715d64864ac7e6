"""The study report: ``report.md``, PNG plots and ``summary.json``, rebuilt from the ledger alone."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from .config import Config, load_config
from .errors import ModomodoError, UsageError
from .ledger import FINISHED, Ledger, fidelity, finished_ok, latest_records, steps_spent, write_atomic
from .live import format_score
from .mixture import Mixture
from .optimizers import configured_optimizer
from .scoring import paired_margin
from .study import best_record, optimizer_history, recommendation

INITIAL_PROPOSERS = ("uniform", "seed", "random")


def _per_example(run_dir: Path, record: dict[str, Any]) -> dict[str, list[float]]:
    path = run_dir / "trials" / record["id"] / "per_example.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _margin(run_dir: Path, config: Config, candidate: dict, baseline: dict, objective: str) -> dict[str, float]:
    """Candidate minus baseline on the objective: the paired standard error where per-example scores exist."""
    groups = {name: b.group for name, b in config.benchmarks.items()}
    value = candidate["scores"][objective] - baseline["scores"][objective]
    unpaired = math.hypot(candidate["scores"].get(f"{objective}_stderr", math.nan),
                          baseline["scores"].get(f"{objective}_stderr", math.nan))
    _, paired_se = paired_margin(_per_example(run_dir, candidate), _per_example(run_dir, baseline), groups, objective)
    stderr = paired_se if paired_se == paired_se else unpaired
    return {
        "margin": value,
        "paired_stderr": paired_se,
        "unpaired_stderr": unpaired,
        "in_standard_errors": value / stderr if stderr and stderr == stderr and stderr > 0 else math.nan,
    }


def _base_record(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next(iter(finished_ok(records, "base")), None)


def _best_by_steps(lines: list[dict[str, Any]], objective: str) -> list[dict[str, Any]]:
    """The best objective of a search trial trained to the end, against the training steps the search had spent
    when it finished (ledger order; a continued trial's steps counted as they were spent)."""
    reached: dict[str, int] = {}
    spent, best, curve = 0, None, []
    for line in lines:
        if line.get("role") != "search" or line.get("status") not in FINISHED:
            continue
        steps = int(line.get("steps") or 0)
        spent += max(0, steps - reached.get(line["id"], 0))
        reached[line["id"]] = steps
        if line["status"] == "ok" and fidelity(line) >= 1:
            best = line["scores"][objective] if best is None else max(best, line["scores"][objective])
        curve.append({"id": line["id"], "steps": spent, "best": best})
    return curve


def summarise(run_dir: Path, config: Config, records: list[dict[str, Any]],
              lines: list[dict[str, Any]]) -> dict[str, Any]:
    """What the report states from the ledger's ``records`` (latest per trial) and all its ``lines`` in order
    (which give the steps as they were spent)."""
    objective = config.study.objective
    ok = finished_ok(records, "search")
    uniform_mixture = Mixture.uniform(config.domain_names)
    uniform = next((r for r in ok if Mixture(r["mixture"]) == uniform_mixture), None)
    base = _base_record(records)
    best = best_record(records, objective)
    best_so_far, running = [], -math.inf
    for record in ok:
        running = max(running, record["scores"][objective])
        best_so_far.append({"id": record["id"], "value": record["scores"][objective], "best_so_far": running,
                            "proposer": record.get("proposer")})
    initial = [r for r in ok if r.get("proposer") in INITIAL_PROPOSERS]
    summary: dict[str, Any] = {
        "study": config.study.name,
        "objective": objective,
        "trials": {"ok": len(ok), "failed": sum(r.get("status") == "failed" for r in records),
                   "interrupted": sum(r.get("status") == "interrupted" for r in records),
                   "partial": len(finished_ok(records, "search", partial=True)) - len(ok)},
        "steps_spent": steps_spent(records),
        "best_by_steps": _best_by_steps(lines, objective),
        "wall_time_s": round(sum(r.get("wall_time", 0) for r in records), 1),
        "best": _brief(best, objective),
        "uniform": _brief(uniform, objective),
        "base": _brief(base, objective),
        "best_of_initial_design": _brief(max(initial, key=lambda r: r["scores"][objective]) if initial else None, objective),
        "best_so_far": best_so_far,
    }
    if best is not None and uniform is not None:
        summary["best_vs_uniform"] = _margin(run_dir, config, best, uniform, objective)
    if uniform is not None and base is not None:
        summary["rl_effect"] = {key: _margin(run_dir, config, uniform, base, key) for key in ("in_score", "out_score")}
    picks, recommended = recommendation(config, records)
    summary["recommended"] = _recommended(picks, recommended, objective)
    confirm = finished_ok(records, "confirm")
    if confirm:
        summary.update(_confirmation(confirm, recommended, uniform, objective))
    summary["surrogate"] = _surrogate(config, records)
    summary["transfer"] = _transfer(config, ok, base)
    summary["warnings"] = _warnings(config, ok, base)
    return summary


def _transfer(config: Config, ok: list[dict], base: dict | None) -> dict[str, dict[str, float]]:
    """Single-domain trials minus the base, per score (mean over seeds): what each domain moves on its own."""
    if base is None:
        return {}
    keys = ("in_score", "out_score", *config.benchmarks)
    by_domain: dict[str, list[dict]] = {}
    for record in ok:
        alone = [d for d, w in record["mixture"].items() if w >= 0.999]
        if alone:
            by_domain.setdefault(alone[0], []).append(record)
    return {
        domain: {key: statistics.fmean(r["scores"][key] - base["scores"][key] for r in runs)
                 for key in keys if key in base["scores"]}
        for domain, runs in by_domain.items()
    }


def _warnings(config: Config, ok: list[dict], base: dict | None) -> list[str]:
    """What the user should know: benchmarks nothing moved from 0, domains that gave GRPO no task reward."""
    warnings = []
    for name in config.benchmarks:
        scores = [r["scores"].get(name) for r in ok + ([base] if base else [])]
        if scores and all(score == 0 for score in scores):
            warnings.append(f"benchmark {name} scored 0 for the base and every trial: no mixture moves it "
                            "(no training domain teaches its answer form, or the base cannot start the task).")
    for domain in config.domain_names:
        silent = [r["id"] for r in ok if r["mixture"].get(domain, 0) > 0
                  and r.get("train", {}).get(f"domain/{domain}/task") == 0]
        if silent:
            warnings.append(f"domain {domain} earned no task reward in trial(s) {', '.join(silent)}: every sampled "
                            "answer scored 0, so GRPO learnt nothing from it there (the base cannot start its task).")
    return warnings


def _confirmation(confirm: list[dict], best: dict | None, uniform: dict | None, objective: str) -> dict[str, Any]:
    """Scores over seeds of the confirmed mixtures, and the recommended one's (``best``) margin over uniform in
    seed standard errors.

    The recommended mixture's search trial is left out of its mean: its score helped pick it, so it would
    bias the mean upwards (the winner's curse). Uniform's search trial was not picked and counts.
    """
    by_mixture: dict[Mixture, list[dict]] = {}
    for record in confirm + ([uniform] if uniform else []):
        by_mixture.setdefault(Mixture(record["mixture"]), []).append(record)
    scores = {mixture: [r["scores"][objective] for r in runs] for mixture, runs in by_mixture.items()}
    result: dict[str, Any] = {"confirmation": {
        str(mixture): {"mixture": runs[0]["mixture"], "seeds": len(runs), "mean": statistics.fmean(scores[mixture]),
                       "sd": statistics.stdev(scores[mixture]) if len(runs) > 1 else math.nan}
        for mixture, runs in by_mixture.items()
    }}
    if best is None or uniform is None or Mixture(best["mixture"]) == Mixture(uniform["mixture"]):
        return result
    fresh, baseline = scores.get(Mixture(best["mixture"]), []), scores[Mixture(uniform["mixture"])]
    if len(fresh) > 1 and len(baseline) > 1:
        margin = statistics.fmean(fresh) - statistics.fmean(baseline)
        stderr = math.sqrt(statistics.variance(fresh) / len(fresh) + statistics.variance(baseline) / len(baseline))
        result["best_vs_uniform_over_seeds"] = {
            "margin": margin, "stderr": stderr, "seeds": [len(fresh), len(baseline)],
            "in_standard_errors": margin / stderr if stderr > 0 else math.nan,
        }
    return result


def _recommended(picks, record: dict[str, Any] | None, objective: str) -> dict[str, Any] | None:
    """The optimizer's recommendation: its tried pick (with that mixture's best search trial) and, for a
    model, its pick over the whole simplex; each with the model's predicted score and sd."""
    if not picks:
        return None
    lines = [{"among": pick.among, "mixture": dict(pick.mixture), "predicted": pick.predicted, "sd": pick.sd}
             for pick in picks]
    return {**lines[0], "trial": _brief(record, objective), "simplex": lines[1] if len(lines) > 1 else None}


def _brief(record: dict[str, Any] | None, objective: str) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"id": record["id"], "mixture": record["mixture"], "value": record["scores"].get(objective),
            "stderr": record["scores"].get(f"{objective}_stderr"),
            "in_score": record["scores"].get("in_score"), "out_score": record["scores"].get("out_score")}


def _surrogate(config: Config, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Leave-one-out diagnostics from the study's optimizer, when it is model-based."""
    try:
        optimizer = configured_optimizer(config)
        diagnostics = getattr(optimizer, "diagnostics", None)
        if diagnostics is None:
            return None
        history = optimizer_history(optimizer, records)
        result = dict(diagnostics(history))
    except ModomodoError as error:
        return {"unavailable": str(error)}
    except Exception as error:  # noqa: BLE001 - a surrogate that fails to fit must not take the report down
        return {"unavailable": f"the surrogate failed to fit: {type(error).__name__}: {error}"}
    result["actual"] = [o.scores[config.study.objective] for o in history]
    result["actual_stderr"] = [o.scores.get(f"{config.study.objective}_stderr", 0.0) for o in history]
    return json.loads(json.dumps(result, default=float))


def write_report(run_dir: str | Path) -> Path:
    """Rebuild report.md, the plots and summary.json in ``run_dir`` from its ledger."""
    run_dir = Path(run_dir)
    resolved = run_dir / "config.resolved.toml"
    if not resolved.exists():
        raise UsageError(f"{run_dir}: not a study run directory (no config.resolved.toml)")
    config = load_config(resolved)
    ledger = Ledger(run_dir / "trials.jsonl", repair=False)  # a report never changes the ledger
    lines = list(ledger.lines())
    records = latest_records(lines)
    summary = summarise(run_dir, config, records, lines)
    summary["warnings"] += [f"skipped a ledger line that is not a trial record: {line}" for line in ledger.skipped]
    write_atomic(run_dir / "summary.json", json.dumps(summary, indent=2, default=float) + "\n")
    plots = _plots(run_dir, config, records, summary)
    write_atomic(run_dir / "report.md", _markdown(config, records, summary, plots))
    return run_dir / "report.md"


def _markdown(config: Config, records: list[dict[str, Any]], summary: dict[str, Any], plots: list[str]) -> str:
    objective = summary["objective"]
    lines = [f"# Study `{config.study.name}`", ""]
    best, uniform = summary["best"], summary["uniform"]
    if best is None:
        lines += ["No trial has finished yet.", ""]
    else:
        mixture = ", ".join(f"{k} {v:.3f}" for k, v in best["mixture"].items())
        lines += [f"**Best observed trial** (by `{objective}`): trial {best['id']}: {mixture}.",
                  f"{objective} = {best['value']:.4f} ± {best['stderr']:.4f} (standard error over evaluation examples).", ""]
        if "best_vs_uniform" in summary and uniform is not None:
            margin = summary["best_vs_uniform"]
            lines += [f"**Margin over uniform** (trial {uniform['id']}, {objective} {uniform['value']:.4f}): "
                      f"{margin['margin']:+.4f}, paired standard error {margin['paired_stderr']:.4f} "
                      f"(unpaired {margin['unpaired_stderr']:.4f}): {margin['in_standard_errors']:+.1f} standard errors "
                      "of evaluation, one training seed each.", ""]
            seeds = summary.get("best_vs_uniform_over_seeds")
            if seeds is not None:
                lines += [f"**Margin over seeds** (the recommended mixture's confirmation runs against uniform's; "
                          f"its search trial left out, as its score helped pick it): {seeds['margin']:+.4f} ± {seeds['stderr']:.4f} over "
                          f"{seeds['seeds'][0]} and {seeds['seeds'][1]} seeds: {seeds['in_standard_errors']:+.1f} "
                          "standard errors.", ""]
            else:
                lines += ["Seed-to-seed spread is not in that figure: set `study.confirm_seeds` (2 or more) to train "
                          "the recommended and uniform mixtures again with new seeds and get the margin over seeds.", ""]
        recommended = summary.get("recommended")
        if recommended is not None:
            mixture = ", ".join(f"{k} {v:.3f}" for k, v in recommended["mixture"].items())
            trial = recommended["trial"]
            if recommended["among"] == "observed":
                lines += [f"**Recommended mixture**: the best observed one (`{config.optimizer.name}` has no model "
                          "to recommend by).", ""]
            else:
                where = f" (trial {trial['id']}, observed {trial['value']:.4f})" if trial else ""
                lines += [f"**Recommended mixture** (`{config.optimizer.name}`'s model: the highest predicted "
                          f"{objective} among the tried mixtures, which does not chase one lucky noisy score): "
                          f"{mixture}{where}; predicted {recommended['predicted']:.4f} ± {recommended['sd']:.4f}.",
                          ""]
            anywhere = recommended.get("simplex")
            if anywhere is not None:
                mixture = ", ".join(f"{k} {v:.3f}" for k, v in anywhere["mixture"].items())
                lines += [f"Over every mixture, tried or not, the model's best is {mixture}: predicted "
                          f"{anywhere['predicted']:.4f} ± {anywhere['sd']:.4f} (untested: train it to check).", ""]
        if "rl_effect" in summary:
            effect = summary["rl_effect"]
            lines += [f"**RL effect** (uniform minus the base policy without RL): In-Score "
                      f"{effect['in_score']['margin']:+.4f} ± {effect['in_score']['paired_stderr']:.4f}, Out-Score "
                      f"{effect['out_score']['margin']:+.4f} ± {effect['out_score']['paired_stderr']:.4f}.", ""]
        initial = summary["best_of_initial_design"]
        if initial is not None:
            lines += [f"Best of the initial design: trial {initial['id']}, {objective} {initial['value']:.4f}; "
                      f"the search after it {'improved on it' if best['id'] != initial['id'] else 'did not beat it'}.", ""]
    if summary.get("warnings"):
        lines += ["## Warnings", "", *[f"- {warning}" for warning in summary["warnings"]], ""]
    counts = summary["trials"]
    partial = f", {counts['partial']} stopped part-way (eval.at)" if counts["partial"] else ""
    lines += [f"Trials: {counts['ok']} finished{partial}, {counts['failed']} failed, {counts['interrupted']} "
              f"interrupted; {summary['steps_spent']} training steps spent in all; total trial time "
              f"{summary['wall_time_s']:.0f} s.", ""]
    if summary.get("confirmation"):
        lines += ["## Confirmation runs (more seeds)", "",
                  "The recommended mixture's search trial is not in its row (its score helped pick it); uniform's is.", "",
                  "| mixture | seeds | mean | sd |", "|---|---|---|---|"]
        for stats in summary["confirmation"].values():
            mixture = ", ".join(f"{k} {v:.2f}" for k, v in stats["mixture"].items() if v >= 0.005)
            lines.append(f"| {mixture} | {stats['seeds']} | {stats['mean']:.4f} | {stats['sd']:.4f} |")
        lines.append("")
    benchmarks = list(config.benchmarks)
    if summary.get("transfer"):
        keys = [k for k in ("in_score", "out_score", *benchmarks) if k in next(iter(summary["transfer"].values()))]
        lines += ["## Transfer from single domains", "",
                  "Each single-domain trial minus the base policy (mean over its seeds): what a domain moves on its own.",
                  "", "| trained on | " + " | ".join(k.replace("_score", "") for k in keys) + " |",
                  "|---|" + "---|" * len(keys)]
        for domain, gains in summary["transfer"].items():
            lines.append(f"| {domain} | " + " | ".join(f"{gains[k]:+.3f}" for k in keys) + " |")
        lines.append("")
    lines += ["## Trials", "", "Scores are mean ± standard error over evaluation examples.", "",
              "| trial | role | proposer | " + " | ".join(config.domain_names) + " | " + " | ".join(benchmarks)
              + " | In | Out | status |",
              "|" + "---|" * (len(config.domain_names) + len(benchmarks) + 6)]
    for record in records:
        scores = record.get("scores", {})
        weights = [f"{record['mixture'].get(d, 0):.2f}" if record["id"] != "base" else "-" for d in config.domain_names]
        values = [format_score(scores, b) for b in benchmarks]
        lines.append(f"| {record['id']} | {record.get('role')} | {record.get('proposer', '')} | " + " | ".join(weights)
                     + " | " + " | ".join(values) + f" | {format_score(scores, 'in_score')} | "
                     f"{format_score(scores, 'out_score')} | {_status(record)} |")
    lines.append("")
    surrogate = summary.get("surrogate")
    if surrogate and "unavailable" not in surrogate:
        lines += [f"Surrogate ({config.optimizer.name}) leave-one-out: R² {surrogate.get('r2', math.nan):.3f}, "
                  f"RMSE {surrogate.get('rmse', math.nan):.4f}.", ""]
    elif surrogate:
        lines += [f"Surrogate diagnostics unavailable: {surrogate['unavailable']}", ""]
    for plot in plots:
        lines += [f"![{plot}]({plot})", ""]
    return "\n".join(lines)


def _status(record: dict[str, Any]) -> str:
    """A trial's status, with how far it trained when it stopped part-way."""
    if record.get("status") == "ok" and fidelity(record) < 1:
        return f"ok at {fidelity(record):.0%} of its steps"
    return str(record.get("status"))


def _plots(run_dir: Path, config: Config, records: list[dict[str, Any]], summary: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objective = summary["objective"]
    ok = finished_ok(records, "search")
    if not ok:
        return []
    written = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(run_dir / name, dpi=110)
        plt.close(fig)
        written.append(name)

    # Best so far against trials, each trial with its error bar, the initial design shaded.
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = list(range(1, len(ok) + 1))
    values = [r["scores"][objective] for r in ok]
    errors = [r["scores"].get(f"{objective}_stderr", 0) for r in ok]
    initial = [r.get("proposer") in INITIAL_PROPOSERS for r in ok]
    ax.errorbar([x for x, i in zip(xs, initial) if i], [v for v, i in zip(values, initial) if i],
                yerr=[e for e, i in zip(errors, initial) if i], fmt="o", color="tab:gray", label="initial design")
    ax.errorbar([x for x, i in zip(xs, initial) if not i], [v for v, i in zip(values, initial) if not i],
                yerr=[e for e, i in zip(errors, initial) if not i], fmt="o", color="tab:blue", label=config.optimizer.name)
    ax.step(xs, [s["best_so_far"] for s in summary["best_so_far"]], where="post", color="tab:red", label="best so far")
    if summary["uniform"] is not None:
        ax.axhline(summary["uniform"]["value"], ls="--", color="tab:green", label="uniform")
    if summary["base"] is not None:
        ax.axhline(summary["base"]["value"], ls=":", color="black", label="base (no RL)")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.legend(fontsize=8)
    save(fig, "best_so_far.png")

    # Best so far against the training steps spent: what partial trials (eval.at) buy.
    curve = [point for point in summary["best_by_steps"] if point["best"] is not None]
    if curve and curve[-1]["steps"] > 0:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.step([p["steps"] for p in curve], [p["best"] for p in curve], where="post", color="tab:red")
        ax.set_xlabel("training steps spent by the search")
        ax.set_ylabel(f"best {objective} (trials trained to the end)")
        save(fig, "best_by_steps.png")

    # Weights of the top mixtures.
    top = sorted(ok, key=lambda r: r["scores"][objective], reverse=True)[:8]
    fig, ax = plt.subplots(figsize=(7, 4))
    bottoms = [0.0] * len(top)
    for domain in config.domain_names:
        heights = [r["mixture"].get(domain, 0) for r in top]
        ax.bar(range(len(top)), heights, bottom=bottoms, label=domain)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    ax.set_xticks(range(len(top)), [f"{r['id']}\n{r['scores'][objective]:.3f}" for r in top], fontsize=8)
    ax.set_ylabel("weight")
    ax.set_title(f"top mixtures by {objective}")
    ax.legend(fontsize=8, loc="upper right")
    save(fig, "top_mixtures.png")

    # Per-benchmark heatmap across trials: the change over the base policy when it was scored (the study's
    # own transfer picture), the raw scores otherwise.
    benchmarks = list(config.benchmarks)
    if benchmarks:
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(benchmarks), 1 + 0.3 * len(ok)))
        base = _base_record(records)
        offset = {b: base["scores"].get(b, math.nan) if base else 0.0 for b in benchmarks}
        grid = [[r["scores"].get(b, math.nan) - offset[b] for b in benchmarks] for r in ok]
        if base:
            limit = max([abs(v) for row in grid for v in row if v == v] + [0.01])
            image = ax.imshow(grid, aspect="auto", cmap="RdBu", vmin=-limit, vmax=limit)
        else:
            image = ax.imshow(grid, aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(benchmarks)), [f"{b}\n({config.benchmarks[b].group})" for b in benchmarks], fontsize=8)
        labels = [f"{r['id']} " + " ".join(f"{d[:4]}{w:.1f}" for d, w in r["mixture"].items() if w >= 0.05) for r in ok]
        ax.set_yticks(range(len(ok)), labels, fontsize=6)
        fig.colorbar(image, ax=ax)
        ax.set_title("change over the base policy" if base else "per-benchmark scores")
        save(fig, "benchmarks_heatmap.png")

    surrogate = summary.get("surrogate") or {}
    if "loo_predictions" in surrogate:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        actual, predicted = surrogate["actual"], surrogate["loo_predictions"]
        ax.errorbar(actual, predicted, xerr=surrogate["actual_stderr"], fmt="o")
        low, high = min(actual + predicted), max(actual + predicted)
        ax.plot([low, high], [low, high], color="gray", ls="--")
        ax.set_xlabel(f"actual {objective}")
        ax.set_ylabel("leave-one-out prediction")
        ax.set_title(f"surrogate: R² {surrogate.get('r2', math.nan):.2f}")
        save(fig, "surrogate.png")
    return written
