"""Numeric and symbolic answers checked with math-verify (gold first, as its ``verify`` expects).

math-verify's own timeout uses ``signal.alarm``, which only works on the main thread, and without
a timeout an answer such as ``9**9**9**9`` makes sympy run for ever. So every check has a deadline:
on the main thread a ``setitimer`` alarm covering parse and verify together; on any other thread
(a reward server, a thread pool) the check runs in a helper process that answers under that same
alarm, and the helper is killed and restarted if it ever stops answering.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from modomodo.answers import extract_answer, reference_answer

#: Longest answer handed to math-verify; a longer one is cut to its end, where the final value is.
MAX_ANSWER_CHARS = 1000
#: Seconds one check (parse both, then verify) may take before it scores 0.
DEADLINE_SECONDS = 2.0
#: Extra seconds the helper process is given to answer before it is presumed stuck.
HELPER_GRACE_SECONDS = 2.0
#: Seconds the helper process may take to start (it imports sympy).
HELPER_START_SECONDS = 60.0


class _DeadlinePassed(BaseException):
    """Raised by the alarm. A BaseException, so math-verify's ``except Exception`` lets it through."""


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (main thread only), restoring the previous SIGALRM handler."""

    def expire(signum, frame):
        raise _DeadlinePassed

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, previous)


def verify_on_main_thread(reference: str, answer: str) -> bool:
    """math-verify's judgement of ``answer`` against ``reference``; False when it passes the deadline."""
    from math_verify import parse, verify

    # math-verify warns once that its own timeout is off; the deadline here replaces it.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    try:
        with _deadline(DEADLINE_SECONDS):
            gold = parse(reference, parsing_timeout=None)
            return bool(verify(gold, parse(answer, parsing_timeout=None), timeout_seconds=None))
    except _DeadlinePassed:
        return False


def _serve(connection) -> None:
    """The helper process: answer (reference, answer) requests on its own main thread until the pipe closes."""
    import math_verify  # noqa: F401 - import before saying ready, so the first request has the full deadline

    connection.send("ready")
    while True:
        try:
            reference, answer = connection.recv()
        except EOFError:
            return
        connection.send(verify_on_main_thread(reference, answer))


class _HelperProcess:
    """One helper process shared by all threads of this process, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process = None
        self._connection = None

    def verify(self, reference: str, answer: str) -> bool:
        with self._lock:
            try:
                if self._process is None:
                    self._start()
                self._connection.send((reference, answer))
                if self._connection.poll(DEADLINE_SECONDS + HELPER_GRACE_SECONDS):
                    return bool(self._connection.recv())
            except Exception:  # noqa: BLE001 - a helper that cannot start or answer scores 0, then restarts
                pass
            self._stop()
            return False

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        connection, child_end = context.Pipe()
        process = context.Process(target=_serve, args=(child_end,), daemon=True, name="modomodo-math-verify")
        self._connection = connection
        process.start()
        self._process = process
        child_end.close()
        if not (connection.poll(HELPER_START_SECONDS) and connection.recv() == "ready"):
            raise OSError("the math-verify helper process did not start")

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None


_helper = _HelperProcess()


def math_match(completion: str, row: Mapping[str, Any]) -> float:
    """1 when math-verify finds the answer equal to the reference (``\\frac{1}{2}`` vs ``0.5``), else 0."""
    answer = extract_answer(completion)[-MAX_ANSWER_CHARS:]
    reference = reference_answer(row)[:MAX_ANSWER_CHARS]
    if not answer or not reference:
        return 0.0
    if threading.current_thread() is threading.main_thread():
        return float(verify_on_main_thread(reference, answer))
    return float(_helper.verify(reference, answer))
