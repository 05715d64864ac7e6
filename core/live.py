"""The terminal view of a running study: overall and per-trial progress, and a table of finished trials."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .config import Config
from .ledger import fidelity


def format_score(scores: dict[str, Any], key: str) -> str:
    value, stderr = scores.get(key), scores.get(f"{key}_stderr")
    if value is None or value != value:
        return "-"
    return f"{value:.3f} ± {stderr:.3f}" if stderr is not None and stderr == stderr else f"{value:.3f}"


class StudyView:
    def __init__(self, config: Config, console: Console | None = None):
        self.config = config
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
        )
        if config.study.budget is None:  # a budget in training steps: the bar counts them
            self.overall = self.progress.add_task("steps", total=config.study.budget_steps)
        else:
            self.overall = self.progress.add_task("trials", total=config.study.budget + 2 * config.study.confirm_seeds)
        self.steps_seen: dict[str, int] = {}
        self.current = self.progress.add_task("", total=1, visible=False)
        self.table = Table("trial", "role", "mixture", "in", "out", "time", title="finished trials")
        self.live = Live(Group(self.table, self.progress), console=self.console, refresh_per_second=4,
                         transient=False, auto_refresh=self.console.is_terminal)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        return self.live.__exit__(*exc)

    def say(self, message: str) -> None:
        self.console.print(message)

    def resumed(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.trial_done(record)

    def trial_progress(self, job):
        def update(stage: str, done: int, total: int) -> None:
            self.progress.update(self.current, description=f"trial {job.id} {stage}", completed=done,
                                 total=total, visible=True)
        return update

    def trial_done(self, record: dict[str, Any]) -> None:
        scores = record.get("scores", {})
        mixture = ", ".join(f"{k}={v:.2f}" for k, v in (record.get("mixture") or {}).items() if v > 0)
        status = record.get("status")
        role = record.get("role", "")
        if fidelity(record) < 1:
            role += f" {fidelity(record):.0%}"
        self.table.add_row(
            record["id"], role,
            mixture if record["id"] != "base" else "(no RL)",
            format_score(scores, "in_score") if status == "ok" else f"[red]{status}[/red]",
            format_score(scores, "out_score") if status == "ok" else (record.get("error") or "")[:40],
            f"{record.get('wall_time', 0):.0f}s",
        )
        steps = int(record.get("steps") or 0)
        if self.config.study.budget is None:
            if record.get("role") == "search":
                self.progress.advance(self.overall, max(0, steps - self.steps_seen.get(record["id"], 0)))
        elif record.get("role") in ("search", "confirm") and record["id"] not in self.steps_seen:
            self.progress.advance(self.overall)  # a trial continued later is still one trial
        self.steps_seen[record["id"]] = steps
        self.progress.update(self.current, visible=False)
        if not self.console.is_terminal:  # logs and CI: one plain line per trial instead of a live table
            self.console.print(f"trial {record['id']} {role} {status}: mixture {mixture or '-'}; "
                               f"in {format_score(scores, 'in_score')}; out {format_score(scores, 'out_score')}; "
                               f"{record.get('wall_time', 0):.0f}s {record.get('error') or ''}".rstrip(), highlight=False)
