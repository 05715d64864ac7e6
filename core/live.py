"""The terminal view of a running study: overall and per-trial progress, and a table of finished trials."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .config import Config


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
        total = config.study.budget + 2 * config.study.confirm_seeds
        self.overall = self.progress.add_task("trials", total=total)
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
        self.table.add_row(
            record["id"], record.get("role", ""),
            mixture if record["id"] != "base" else "(no RL)",
            format_score(scores, "in_score") if status == "ok" else f"[red]{status}[/red]",
            format_score(scores, "out_score") if status == "ok" else (record.get("error") or "")[:40],
            f"{record.get('wall_time', 0):.0f}s",
        )
        if record.get("role") in ("search", "confirm"):
            self.progress.advance(self.overall)
        self.progress.update(self.current, visible=False)
        if not self.console.is_terminal:  # logs and CI: one plain line per trial instead of a live table
            self.console.print(f"trial {record['id']} {record.get('role', '')} {status}: mixture {mixture or '-'}; "
                               f"in {format_score(scores, 'in_score')}; out {format_score(scores, 'out_score')}; "
                               f"{record.get('wall_time', 0):.0f}s {record.get('error') or ''}".rstrip(), highlight=False)
