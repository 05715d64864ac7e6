"""Trials in child processes (``executor.trial_process = "child"``): a crash, an out-of-memory kill or a hang
fails one trial, not the study, and the trial's memory goes back to the system when it ends.

The driver writes the job to ``<workdir>/job.json`` and starts the child; the child runs it and writes
``result.json`` (or ``error.json`` when it raises), its output to ``trial.log`` and its progress to
``progress.json``. The driver watches: progress goes to the live view, a timeout stops the child's whole
process group, and an exit without a result becomes a failure with the reason and the log's tail.

One process per trial is forked from a server that has imported the plugins and the trainer's heavy
modules once (its ``preload``), so a trial pays no import time. Several (``executor.processes``) are started by the
trainer's launcher (``launch_command``, e.g. ``accelerate launch``): every rank trains, rank 0 scores.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .config import Config, config_from_dict, config_to_dict
from .errors import ConfigError, ModomodoError, TrialError
from .ledger import write_atomic
from .mixture import Mixture
from .plugins import get, plugin_modules, register_plugin
from .trainers import ProgressCallback
from .trial import TrialJob, TrialResult, run_job, train_other_rank

POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 10.0
LOG_TAIL_LINES = 20
OUTPUTS = ("result.json", "error.json", "progress.json")


class ChildTrialError(TrialError):
    """A child trial that ended without a result; ``details`` holds the tail of its log."""

    def __init__(self, message: str, details: str):
        super().__init__(message)
        self.details = details


# -- the driver's side -------------------------------------------------------------------------------------
def run_in_child(config: Config, job: TrialJob, progress: ProgressCallback | None = None) -> TrialResult:
    """Run ``job`` in its own process(es) and return its result; raise TrialError if it fails."""
    workdir = job.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        (workdir / name).unlink(missing_ok=True)
    spec = workdir / "job.json"
    write_atomic(spec, json.dumps(_job_spec(config, job)))
    settings = config.executor
    trainer = get("trainers", config.model.trainer)
    if settings.processes > 1 and job.role != "base":
        child = _launch(trainer, settings.processes, settings.launcher_config, spec, workdir / "trial.log")
    else:
        child = _fork(trainer, spec)
    _watch(child, workdir, settings.timeout, progress)
    if (workdir / "result.json").exists() and child.exit_code() == 0:
        return TrialResult.from_json((workdir / "result.json").read_text(), workdir)
    if (workdir / "error.json").exists():
        error = json.loads((workdir / "error.json").read_text())
        raise ChildTrialError(error["error"], error["details"])
    tail = _tail(workdir / "trial.log")
    last = next((line for line in reversed(tail.splitlines()) if line.strip()), "")
    reason = child.ended_how()
    raise ChildTrialError(f"{reason}{': ' + last.strip() if last else ''} (log: {workdir / 'trial.log'})", tail)


def _job_spec(config: Config, job: TrialJob) -> dict[str, Any]:
    return {
        "config": config_to_dict(config),
        "job": {"id": job.id, "index": job.index, "mixture": dict(job.mixture), "seed": job.seed,
                "role": job.role, "workdir": str(job.workdir), "fidelity": job.fidelity},
        "plugins": plugin_modules(runtime_only=True),
        "sys_path": list(sys.path),
    }


class _Child:
    """One child process (or a launcher and its ranks), led by ``pid`` in its own process group."""

    def __init__(self, pid: int, exit_code):
        self.pid = pid
        self._exit_code = exit_code
        self.timed_out = False
        self.timeout = 0.0

    def exit_code(self) -> int | None:
        return self._exit_code()

    def stop(self) -> None:
        """SIGTERM the whole group, then SIGKILL what is left after a grace period."""
        for sig, wait in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while self.exit_code() is None and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
            if self.exit_code() is not None:
                break
        try:  # ranks or workers the leader left behind
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def ended_how(self) -> str:
        if self.timed_out:
            return f"timed out after {self.timeout:g} s (executor.timeout)"
        code = self.exit_code()
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory? the kernel's OOM killer sends SIGKILL)" if -code == signal.SIGKILL else ""
            return f"the trial's process was killed by {name}{hint}"
        return f"the trial's process exited with code {code} without a result"


_fork_context: dict[str, Any] = {}


def _fork(trainer: Any, spec: Path) -> _Child:
    """A child forked from the fork server, which imports the trainer's ``preload`` modules once."""
    if "context" not in _fork_context:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            plugins = [module for _, module in plugin_modules()]
            context.set_forkserver_preload(["modomodo.child_trial", *plugins, *getattr(trainer, "preload", ())])
        _fork_context["context"] = context
    # The driver's environment now (Ray sets CUDA_VISIBLE_DEVICES per task), not the fork server's; passed
    # through the server's socket rather than job.json, which must not hold tokens from the environment.
    process = _fork_context["context"].Process(target=_forked_main, args=(str(spec), dict(os.environ)))
    process.start()
    return _Child(process.pid, lambda: process.exitcode)


def _launch(trainer: Any, processes: int, config_file: str | None, spec: Path, log: Path) -> _Child:
    launch_command = getattr(trainer, "launch_command", None)
    if launch_command is None:
        raise ConfigError(f"executor.processes = {processes}: trainer {trainer.name!r} has no launcher "
                          "(launch_command), so its trials run as one process; set executor.processes = 1")
    argv = [*launch_command(processes, config_file), "-m", "modomodo.child_trial", str(spec)]
    with open(log, "ab") as output:
        output.write(f"$ {' '.join(argv)}\n".encode())
        output.flush()
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    return _Child(process.pid, process.poll)


def _watch(child: _Child, workdir: Path, timeout: float | None, progress: ProgressCallback | None) -> None:
    """Wait for the child, passing its progress on; stop it on timeout or when the driver is interrupted."""
    started = time.monotonic()
    seen = None
    try:
        while child.exit_code() is None:
            time.sleep(POLL_SECONDS)
            if progress is not None:
                seen = _forward_progress(workdir / "progress.json", seen, progress)
            if timeout is not None and time.monotonic() - started > timeout:
                child.timed_out, child.timeout = True, timeout
                child.stop()
                return
    except BaseException:
        child.stop()
        raise
    child.stop()  # the leader is gone; nothing of its group may outlive it


def _forward_progress(path: Path, seen: Any, progress: ProgressCallback) -> Any:
    try:
        update = json.loads(path.read_text())
    except (OSError, ValueError):
        return seen
    if update != seen:
        progress(update["stage"], update["done"], update["total"])
    return update


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- the child's side --------------------------------------------------------------------------------------
def _forked_main(spec: str, environ: dict[str, str]) -> None:
    """Entry of a forked child: lead a process group (so the driver can stop all of it), take the driver's
    environment, log to the trial's ``trial.log``, run the job."""
    os.setsid()
    os.environ.clear()
    os.environ.update(environ)
    workdir = Path(json.loads(Path(spec).read_text())["job"]["workdir"])
    log = os.open(workdir / "trial.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.exit(run_spec(spec))


def run_spec(spec_path: str) -> int:
    """Run the job in ``spec_path`` in this process; every rank of a multi-process trial calls it."""
    spec = json.loads(Path(spec_path).read_text())
    for entry in reversed(spec["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    for name, module in spec["plugins"]:
        __import__(module)
        register_plugin(sys.modules[module], name)
    job_data = spec["job"]
    job = TrialJob(id=job_data["id"], index=job_data["index"], mixture=Mixture(job_data["mixture"]),
                   seed=job_data["seed"], role=job_data["role"], workdir=Path(job_data["workdir"]),
                   fidelity=job_data["fidelity"])
    rank = int(os.environ.get("RANK", "0"))
    try:
        config = config_from_dict(spec["config"], source=spec_path)
        if rank == 0:
            result = run_job(config, job, _progress_file(job.workdir / "progress.json"))
            write_atomic(job.workdir / "result.json", result.to_json())
        else:
            train_other_rank(config, job)
        return 0
    except Exception as error:  # noqa: BLE001 - reported to the driver, which records the failure
        details = traceback.format_exc()
        print(details, file=sys.stderr, flush=True)
        if rank == 0:
            message = str(error) if isinstance(error, ModomodoError) else f"{type(error).__name__}: {error}"
            write_atomic(job.workdir / "error.json", json.dumps({"error": message, "details": details}))
        return 1


def _progress_file(path: Path) -> ProgressCallback:
    def report(stage: str, done: int, total: int) -> None:
        write_atomic(path, json.dumps({"stage": stage, "done": done, "total": total}))

    return report


if __name__ == "__main__":
    sys.exit(run_spec(sys.argv[1]))
