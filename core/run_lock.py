"""One study, one writer: ``modomodo run`` holds an exclusive lock on its study while it works in it.

The lock (``filelock``: ``flock`` on POSIX, released by the kernel if the holder dies) is a file beside the
run directory, ``<output_dir>/.<name>.lock``, so that ``--restart`` can rename the directory while holding
it. A second run on the same study is refused with the holder's PID, host and start time, which the holder
writes to ``.<name>.lock.owner``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import UsageError


class RunLock:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.path = run_dir.parent / f".{run_dir.name}.lock"
        self.owner = run_dir.parent / f".{run_dir.name}.lock.owner"
        self._lock = FileLock(self.path, timeout=0)

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise UsageError(f"{self.run_dir}: another `modomodo run` is working on this study ({self._holder()}); "
                             "wait for it to finish, or stop it first") from None
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.owner.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}))

    def release(self) -> None:
        if self._lock.is_locked:
            self.owner.unlink(missing_ok=True)
            self._lock.release()

    def _holder(self) -> str:
        try:
            owner = json.loads(self.owner.read_text())
            return f"PID {owner['pid']} on {owner['host']}, started {owner['started']}"
        except (OSError, ValueError, KeyError):
            return "its owner is not recorded yet"
