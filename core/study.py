"""The study: propose mixtures, run trials, record them in the ledger, until the budget is spent.

Everything is reproducible from ``study.seed``: proposals depend only on the seed and the
finished trials, so a rerun of the same command resumes where the ledger stops. Finished
trials are never run again; an interrupted one is run again from scratch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import shutil
from pathlib import Path
from typing import Any

from .config import Config, config_to_dict, dump_toml, load_config
from .errors import ConfigError, HistoryError, UsageError
from .executors import TrialFailure, attempt_trial, make_executor
from .ledger import Ledger, fidelity, finished_ok, steps_spent, write_atomic
from .mixture import Mixture
from .optimizers import (Observation, Recommendation, Run, best_observed, checked_proposals, checked_runs,
                         configured_optimizer, recommend)
from .plugins import get, plugin_listing
from .preflight import preflight
from .run_lock import RunLock
from .trial import TrialJob, TrialResult, earlier_evaluations

# Sections that, when changed, make earlier trials incomparable with new ones.
LEDGER_DEFINING = ("domains", "benchmarks", "model", "train", "eval")
LEDGER_DEFINING_STUDY_KEYS = ("objective", "seed")


def run_dir_of(config: Config) -> Path:
    return Path(config.study.output_dir) / config.study.name


def versions() -> dict[str, str]:
    found = {}
    for package in ("modomodo", "torch", "transformers", "trl"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def observations(records: list[dict[str, Any]]) -> list[Observation]:
    """What the optimizers learn from: finished, successful search trials trained to the end of the run."""
    return [Observation(mixture=Mixture(r["mixture"]), scores=r["scores"], trial=r["id"])
            for r in finished_ok(records, "search")]


def evaluations(records: list[dict[str, Any]]) -> list[Observation]:
    """What a multi-fidelity optimizer learns from: every evaluation of every successful search trial."""
    return [Observation(mixture=Mixture(r["mixture"]), scores=e["scores"], fidelity=e["fraction"], trial=r["id"])
            for r in finished_ok(records, "search", partial=True)
            for e in r.get("evaluations") or [{"fraction": fidelity(r), "scores": r["scores"]}]]


def optimizer_history(optimizer: Any, records: list[dict[str, Any]]) -> list[Observation]:
    """What ``optimizer`` learns from: every evaluation for a multi-fidelity one, complete trials otherwise."""
    return evaluations(records) if hasattr(optimizer, "propose_runs") else observations(records)


def ledger_settings(config: Config) -> dict[str, Any]:
    """The settings that make two trials comparable: the ledger-defining sections and study keys."""
    data = config_to_dict(config)
    settings = {section: data.get(section) for section in LEDGER_DEFINING}
    settings["study"] = {key: data["study"].get(key) for key in LEDGER_DEFINING_STUDY_KEYS}
    return settings


def settings_hash(settings: dict[str, Any]) -> str:
    """A short hash of the ledger-defining settings, written on every ledger line."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def changed_keys(earlier: Any, now: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ: ``train.learning_rate: 0.001 -> 0.0005``."""
    if isinstance(earlier, dict) and isinstance(now, dict):
        return [line for key in sorted(set(earlier) | set(now), key=str)
                for line in changed_keys(earlier.get(key), now.get(key), f"{prefix}.{key}" if prefix else str(key))]
    if earlier == now:
        return []
    if earlier is None or now is None:
        return [f"{prefix}: {'added' if earlier is None else 'removed'}"]
    return [f"{prefix}: {earlier!r} -> {now!r}"]


class Study:
    def __init__(self, config: Config, config_path: str | Path, restart: bool = False, view=None):
        self.config = config
        self.config_path = Path(config_path)
        self.run_dir = run_dir_of(config)
        self.view = view
        problems = preflight(config)
        if not config.benchmarks:
            problems.append("benchmarks: a study scores every trial on its benchmarks; expected at least one "
                            "[benchmarks.NAME] table")
        if problems:
            raise ConfigError("\n".join(f"{self.config_path}: {problem}" for problem in problems))
        self.settings = ledger_settings(config)
        self.settings_hash = settings_hash(self.settings)
        self.lock = RunLock(self.run_dir)
        self.lock.acquire()
        try:
            self._prepare(restart)
            self.ledger = Ledger(self.run_dir / "trials.jsonl")
            self._refuse_other_settings_in_ledger()
            for line in self.ledger.skipped:
                self._say(f"[yellow]Skipped a ledger line that is not a trial record: {line}[/yellow]")
        except BaseException:
            self.lock.release()
            raise
        self.log_path = self.run_dir / "run.log"
        self._proposers: dict[str, str] = {}
        self._fallbacks: dict[str, str] = {}

    def close(self) -> None:
        """Release the study's lock (``run`` does it when it ends)."""
        self.lock.release()

    # -- run directory -------------------------------------------------------------------------
    def _prepare(self, restart: bool) -> None:
        resolved = self.run_dir / "config.resolved.toml"
        if restart and self.run_dir.exists():
            moved = self.run_dir.with_name(f"{self.run_dir.name}.old-{dt.datetime.now():%Y%m%d-%H%M%S}")
            self.run_dir.rename(moved)
            self._say(f"--restart: the earlier run was moved to {moved}")
        elif resolved.exists():
            self._refuse_if_incompatible(resolved)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        probe = self.run_dir / ".writable"
        try:
            probe.write_text("")
            probe.unlink()
        except OSError as error:
            raise UsageError(f"{self.run_dir}: cannot write in the run directory ({error.strerror})") from None
        data = config_to_dict(self.config)
        header = "# Resolved config: every default filled in.\n" + "".join(
            f"# {package} {version}\n" for package, version in versions().items()
        )
        write_atomic(resolved, header + dump_toml(data))
        self._record_plugin_versions()

    def _record_plugin_versions(self) -> None:
        """Keep the plugins' versions with the study, and say when a resumed study runs under other ones: a
        changed data generator or verifier can make new trials incomparable with the ledger's."""
        path = self.run_dir / "plugins.json"
        now = {plugin["name"]: plugin["version"] for plugin in plugin_listing()}
        try:
            earlier = json.loads(path.read_text())
        except (OSError, ValueError):
            earlier = None
        if isinstance(earlier, dict):
            for name in sorted(set(earlier) | set(now)):
                if earlier.get(name) != now.get(name):
                    self._say(f"[yellow]Plugin {name}: {earlier.get(name) or 'absent'} when this study's earlier "
                              f"trials ran, {now.get(name) or 'absent'} now; if it changed its data or rewards, "
                              "new trials are not comparable with them.[/yellow]")
        write_atomic(path, json.dumps(now, indent=1) + "\n")

    def _refuse_if_incompatible(self, resolved: Path) -> None:
        try:
            earlier = ledger_settings(load_config(resolved))
        except ConfigError as error:
            raise ConfigError(f"{resolved}: the study's recorded settings cannot be read ({error}); "
                              "pass --restart to start afresh (the old run directory is kept, renamed)") from None
        changed = changed_keys(earlier, self.settings)
        if changed:
            raise ConfigError(
                f"{self.config_path}: settings changed since the study in {self.run_dir} was started, so its "
                f"finished trials are not comparable with new ones: {'; '.join(changed)}. Use another study.name, "
                "restore the old settings, or pass --restart (the old run directory is kept, renamed)."
            )

    def _refuse_other_settings_in_ledger(self) -> None:
        """The ledger's own record of comparability, which survives a deleted config.resolved.toml."""
        other = sorted({r["settings"] for r in self.ledger.records() if r.get("settings", self.settings_hash)
                        != self.settings_hash})
        if other:
            raise ConfigError(
                f"{self.config_path}: the ledger {self.ledger.path} holds trials run with other ledger-defining "
                f"settings (hash {', '.join(other)}; this config's is {self.settings_hash}: domains, benchmarks, "
                "model, train, eval, study.objective or study.seed differ); restore them, use another study.name, "
                "or pass --restart"
            )

    def _say(self, message: str) -> None:
        if self.view is not None:
            self.view.say(message)

    def _log(self, message: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(f"{_now()} {message}\n")

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        try:
            return self._run()
        finally:
            self.close()

    def _run(self) -> list[dict[str, Any]]:
        executor = make_executor(self.config)
        try:
            if self.config.study.evaluate_base and not finished_ok(self.ledger.records(), "base"):
                self._evaluate_base()
            while True:
                jobs = self._next_search_jobs()
                if not jobs:
                    break
                self._run_jobs(executor, jobs)
            self._run_jobs(executor, self._confirmation_jobs())
        except KeyboardInterrupt:
            for job in executor.running:
                self._record_interrupted(job)
            raise
        finally:
            executor.close()
        return self.ledger.records()

    def _run_jobs(self, executor, jobs: list[TrialJob]) -> None:
        if not jobs:
            return
        for job in jobs:
            # A trial's folder is kept when it holds evaluations of this same trial, so that a continued or
            # interrupted trial goes on from its last one; anything else in it is a stale attempt.
            if job.workdir.exists() and not earlier_evaluations(job.workdir, job.mixture, job.seed):
                shutil.rmtree(job.workdir)
            job.workdir.mkdir(parents=True, exist_ok=True)
            self._log(f"start trial {job.id} role={job.role} seed={job.seed} mixture={job.mixture}"
                      + (f" up to {job.fidelity:g} of the run" if job.fidelity < 1 else ""))
        progress = self.view.trial_progress if self.view is not None else None
        executor.run(jobs, self._record, progress)

    def _evaluate_base(self) -> None:
        self._say("Scoring the base policy (no RL) ...")
        job = TrialJob(id="base", index=0, mixture=Mixture.uniform(self.config.domain_names),
                       seed=self.config.study.seed, role="base", workdir=self.run_dir / "trials" / "base")
        job.workdir.mkdir(parents=True, exist_ok=True)
        progress = self.view.trial_progress(job) if self.view is not None else None
        outcome = attempt_trial(self.config, job, progress)
        self._record(job, outcome)
        if isinstance(outcome, TrialFailure):
            self._say(f"[red]The base policy could not be scored: {outcome.error}[/red]")
            return
        silent = [name for name in self.config.benchmarks if outcome.scores().get(name) == 0]
        if silent:
            self._say(f"Warning: the base policy scores 0 on {', '.join(silent)}; RL can move a benchmark only "
                      "if the base sometimes gets it right or a training domain teaches its answer form.")

    def _search_records(self) -> list[dict[str, Any]]:
        return [r for r in self.ledger.finished() if r.get("role") == "search"]

    def _initial_plan(self) -> tuple[str | None, int]:
        """Which strategy makes the initial design, and how many search trials it covers."""
        settings = self.config.optimizer
        m = len(self.config.domains)
        strategy = {"seed": "seed", "dirichlet": "random", "none": None}[settings.initial]
        default = {"seed": 2 * m + 1, "dirichlet": m + 1, "none": 1}[settings.initial]
        return strategy, settings.initial_trials or default

    def _next_search_jobs(self) -> list[TrialJob]:
        """The next round: uniform first (the baseline every report compares with), then the
        initial design, then the optimizer, ``optimizer.batch`` runs at a time, until ``study.budget`` trials
        or ``study.budget_steps`` training steps are spent. Uniform and the initial design train to the end."""
        study = self.config.study
        done = self._search_records()
        remaining = study.budget - len(done) if study.budget is not None else self.config.optimizer.batch
        out_of_steps = study.budget_steps is not None and steps_spent(self.ledger.records()) >= study.budget_steps
        if remaining <= 0 or out_of_steps:
            return []
        uniform = Mixture.uniform(self.config.domain_names)
        proposals: list[tuple[Run, str]] = []
        fallback = None
        if not any(Mixture(r["mixture"]) == uniform for r in done):
            proposals.append((Run(uniform), "uniform"))
        initial_strategy, initial_count = self._initial_plan()
        want = min(self.config.optimizer.batch, remaining) - len(proposals)
        if want > 0:
            still_initial = initial_count - len(done) - len(proposals)
            if initial_strategy is not None and still_initial > 0:
                name, want = initial_strategy, min(want, still_initial)
            else:
                name = self.config.optimizer.name
            runs, proposer, fallback = self._propose(name, want, len(done))
            proposals += [(run, proposer) for run in runs]
        jobs = self._jobs(proposals[:remaining], "search")
        if fallback:
            self._fallbacks.update({job.id: fallback for job in jobs if self._proposers[job.id] == "random"})
        return jobs

    def _propose(self, name: str, n: int, round_index: int) -> tuple[list[Run], str, str | None]:
        """``n`` runs from strategy ``name`` (a multi-fidelity one chooses how far each goes; the others' train to
        the end), the strategy that proposed them, and why ``random`` stood in (None when it did not)."""
        domains = self.config.domain_names
        seed = self.config.study.seed + round_index
        options = dict(self.config.optimizer.options) if name == self.config.optimizer.name else {}
        objective = self.config.study.objective
        records = self.ledger.records()
        try:
            optimizer = get("optimizers", name)(domains, objective=objective, seed=seed, **options)
            if hasattr(optimizer, "propose_runs"):
                runs = optimizer.propose_runs(optimizer_history(optimizer, records), n, list(self.config.eval.at))
                partial = finished_ok(records, "search", partial=True)
                return checked_runs(name, runs, domains, self.config.eval.at, partial), name, None
            proposals = optimizer.propose(optimizer_history(optimizer, records), n)
            return [Run(m) for m in checked_proposals(name, proposals, domains)], name, None
        except HistoryError as error:
            self._say(f"[yellow]{name} cannot propose yet ({error}); using random mixtures this round[/yellow]")
            random = get("optimizers", "random")(domains, objective=objective, seed=seed)
            proposals = random.propose(observations(records), n)
            return ([Run(m) for m in checked_proposals("random", proposals, domains)], "random",
                    f"{name} could not propose: {error}")

    def _jobs(self, proposals: list[tuple[Run, str]], role: str) -> list[TrialJob]:
        """Number new trials after the finished ones (a mixture already run gets the next seed); a run that
        continues a partial trial keeps that trial's id, seed and folder."""
        finished = {r["id"]: r for r in self.ledger.finished() if r["id"] != "base"}
        next_index = 1 + len(finished)
        seen = [Mixture(r["mixture"]) for r in finished.values()]
        jobs = []
        for run, proposer in proposals:
            if run.trial is not None:
                earlier = finished[run.trial]
                trial_id, index, seed = run.trial, earlier["index"], earlier["seed"]
                proposer = earlier.get("proposer", proposer)
            else:
                trial_id, index = f"{next_index:04d}", next_index
                seed = self.config.study.seed + seen.count(run.mixture)
                next_index += 1
                seen.append(run.mixture)
            jobs.append(TrialJob(id=trial_id, index=index, mixture=run.mixture, seed=seed, role=role,
                                 workdir=self.run_dir / "trials" / trial_id, fidelity=run.fidelity))
            self._proposers[trial_id] = proposer
        return jobs

    def _confirmation_jobs(self) -> list[TrialJob]:
        """``study.confirm_seeds`` more seeds for the recommended mixture (the optimizer model's pick among the
        tried ones, not the luckiest noisy score) and for uniform, once the search is done."""
        extra = self.config.study.confirm_seeds
        best = recommendation(self.config, self.ledger.records())[1] if extra else None
        if extra == 0 or best is None:
            return []
        confirmed = [r for r in self.ledger.finished() if r.get("role") == "confirm"]
        wanted = []
        for mixture in dict.fromkeys([Mixture(best["mixture"]), Mixture.uniform(self.config.domain_names)]):
            have = sum(1 for r in confirmed if Mixture(r["mixture"]) == mixture)
            wanted += [(Run(mixture), "confirm")] * (extra - have)
        return self._jobs(wanted, "confirm")

    # -- recording -----------------------------------------------------------------------------
    def _record(self, job: TrialJob, outcome: TrialResult | TrialFailure) -> None:
        record: dict[str, Any] = {
            "id": job.id,
            "index": job.index,
            "role": job.role,
            "proposer": self._proposers.get(job.id, job.role),
            "mixture": dict(job.mixture),
            "seed": job.seed,
            "fidelity": job.fidelity,
            "finished_at": _now(),
            "settings": self.settings_hash,
        }
        if job.id in self._fallbacks:
            record["fallback"] = self._fallbacks[job.id]
        if isinstance(outcome, TrialFailure):
            record.update(status="failed", error=outcome.error, attempts=outcome.attempts)
            self._log(f"trial {job.id} failed: {outcome.error}")
        else:
            record.update(
                status="ok",
                scores=outcome.scores(),
                benchmarks=[
                    {"name": b.name, "group": b.group, "n": b.n, "score": b.score, "stderr": b.stderr}
                    for b in outcome.benchmarks
                ],
                steps=outcome.train_metrics.get("steps"),
                evaluations=list(outcome.evaluations),
                train=dict(outcome.train_metrics),
                wall_time=round(outcome.wall_time, 3),
            )
            self._log(f"trial {job.id} finished in {outcome.wall_time:.1f}s")
        self.ledger.append(record)
        if self.view is not None:
            self.view.trial_done(record)

    def _record_interrupted(self, job: TrialJob) -> None:
        if any(r["id"] == job.id for r in self.ledger.finished()):
            # A continued partial trial: its last evaluation stays its record, and continuing it again starts
            # from the checkpoint kept there.
            self._log(f"trial {job.id} interrupted while continuing; it stays at its last evaluation")
            return
        self.ledger.append({
            "id": job.id, "index": job.index, "role": job.role, "proposer": self._proposers.get(job.id, job.role),
            "mixture": dict(job.mixture), "seed": job.seed, "fidelity": job.fidelity, "status": "interrupted",
            "finished_at": _now(),
            "settings": self.settings_hash,
        })
        self._log(f"trial {job.id} interrupted")



def recommendation(config: Config, records: list[dict[str, Any]]) -> tuple[list[Recommendation], dict[str, Any] | None]:
    """What the study's optimizer recommends from its finished search trials (its model's pick among the tried
    mixtures, then over the simplex; the best observed mixture for a strategy without a model), and the best
    search trial of the recommended tried mixture."""
    objective = config.study.objective
    history = observations(records)
    if not history:
        return [], None
    try:
        optimizer = configured_optimizer(config)
        picks = recommend(optimizer, optimizer_history(optimizer, records), objective)
    except Exception:  # noqa: BLE001 - a surrogate that fails to fit must not stop the study or its report
        picks = [best_observed(history, objective)]
    trials = [r for r in finished_ok(records, "search") if Mixture(r["mixture"]) == picks[0].mixture]
    return picks, max(trials, key=lambda r: (r["scores"][objective], -r["index"]), default=None)


def best_record(records: list[dict[str, Any]], objective: str) -> dict[str, Any] | None:
    """The successful search trial with the highest objective (ties: the earlier trial)."""
    candidates = finished_ok(records, "search")
    candidates = [r for r in candidates if r["scores"].get(objective) == r["scores"].get(objective)]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r["scores"][objective], -r["index"]))
