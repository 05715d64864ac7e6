"""Executors run trials: ``local`` one after another, ``ray`` concurrently on a Ray cluster; either way a trial
runs in the executor's process or, with ``executor.trial_process = "child"``, in its own (child_trial.py).

The driver alone writes the ledger: an executor only hands each finished trial back
through ``on_done(job, result_or_error)``.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .child_trial import run_in_child
from .config import Config, ExecutorConfig, config_from_dict, config_to_dict
from .errors import ModomodoError, UsageError
from .trainers import ProgressCallback
from .trial import TrialJob, TrialResult, run_job


@attrs.frozen
class TrialFailure:
    """Why a trial failed after its retries: the last error, with its traceback kept for the trial's log."""

    error: str
    details: str
    attempts: int


OnDone = Callable[[TrialJob, "TrialResult | TrialFailure"], None]


def attempt_trial(config: Config, job: TrialJob, progress: ProgressCallback | None = None) -> TrialResult | TrialFailure:
    """Run one trial (in this process or a child, ``executor.trial_process``), retrying ``executor.retries``
    times; a failure is returned, not raised."""
    attempts = config.executor.retries + 1
    in_child = config.executor.trial_process == "child"
    for attempt in range(1, attempts + 1):
        try:
            return run_in_child(config, job, progress) if in_child else run_job(config, job, progress)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # noqa: BLE001 - one failed trial must not end the study
            details = getattr(error, "details", None) or traceback.format_exc()
            job.workdir.mkdir(parents=True, exist_ok=True)
            (job.workdir / "error.log").write_text(details)
            if attempt == attempts:
                message = str(error) if isinstance(error, ModomodoError) else f"{type(error).__name__}: {error}"
                return TrialFailure(error=message, details=details, attempts=attempts)
    raise AssertionError("unreachable")


class LocalExecutor:
    """Runs trials one at a time in this process, with step-level progress."""

    def __init__(self, config: Config):
        self.config = config
        self.running: list[TrialJob] = []

    def run(self, jobs: Sequence[TrialJob], on_done: OnDone, progress: Callable[[TrialJob], ProgressCallback] | None = None) -> None:
        for job in jobs:
            self.running = [job]
            outcome = attempt_trial(self.config, job, progress(job) if progress else None)
            self.running = []
            on_done(job, outcome)

    def close(self) -> None:
        pass


def _remote_trial(config_data: dict[str, Any], job: TrialJob) -> TrialResult | TrialFailure:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return attempt_trial(config_from_dict(config_data), job)


class RayExecutor:
    """Runs up to ``executor.max_concurrent`` trials at once as Ray tasks (``address`` or a local Ray)."""

    def __init__(self, config: Config):
        try:
            import ray
        except ImportError:
            raise UsageError("executor.kind = 'ray' needs Ray: pip install 'modomodo[ray]'") from None
        self.ray = ray
        self.config = config
        settings: ExecutorConfig = config.executor
        if not ray.is_initialized():
            env = {k: v for k, v in os.environ.items() if k.startswith(("MODOMODO_", "HF_", "TRANSFORMERS_"))}
            ray.init(
                address=settings.address,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": env},
                **({} if settings.address else {"num_cpus": max(os.cpu_count() or 1, settings.max_concurrent)}),
            )
        self.remote = ray.remote(num_cpus=settings.num_cpus, num_gpus=settings.num_gpus, max_retries=0)(_remote_trial)
        self.running: list[TrialJob] = []

    def run(self, jobs: Sequence[TrialJob], on_done: OnDone, progress=None) -> None:
        ray = self.ray
        config_data = config_to_dict(self.config)
        pending = list(jobs)
        in_flight: dict[Any, TrialJob] = {}
        while pending or in_flight:
            while pending and len(in_flight) < self.config.executor.max_concurrent:
                job = pending.pop(0)
                in_flight[self.remote.remote(config_data, job)] = job
            self.running = list(in_flight.values())
            done, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in done:
                job = in_flight.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as error:  # noqa: BLE001 - a lost worker fails the trial, not the study
                    outcome = TrialFailure(error=f"Ray task failed: {error}", details=str(error), attempts=1)
                on_done(job, outcome)
        self.running = []

    def close(self) -> None:
        if self.ray.is_initialized() and not self.config.executor.address:
            self.ray.shutdown()


def make_executor(config: Config):
    return {"local": LocalExecutor, "ray": RayExecutor}[config.executor.kind](config)
