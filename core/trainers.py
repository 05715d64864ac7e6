"""Trainer backends: train a policy on a mixture, and generate answers for evaluation.

Scoring is not the trainer's business: the core runs the verifiers over what
``generate`` returns, so every trainer is scored alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from .datasets import Row
from .mixture import Mixture
from .verifiers import CompositeReward

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: e.g. ``("train", 40, 200)``."""


@attrs.frozen
class DomainData:
    """One training domain: its rows and the reward that routes to them."""

    rows: Sequence[Row]
    reward: CompositeReward


@attrs.frozen
class TrainRequest:
    """Everything a trainer needs for one trial. ``model`` and ``train`` are the config sections.

    ``until`` < 1 asks for a partial run (a trainer with ``partial_runs = True``): train the first ``until``
    of the run's steps on the whole run's schedule (learning rate, data order), then keep in ``workdir`` what
    continuing needs. A later request for the same trial and workdir with a larger ``until`` continues from
    there, and must end where a run straight through would have.
    """

    mixture: Mixture
    seed: int
    domains: Mapping[str, DomainData]
    model: Any
    train: Any
    workdir: Path
    progress: ProgressCallback | None = None
    until: float = 1.0


@attrs.frozen
class TrainOutcome:
    """A trained policy (opaque to the core) and what the run measured (steps, per-domain reward, ...)."""

    policy: Any
    metrics: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class GenerateRequest:
    """How to answer evaluation prompts: greedy, or ``samples`` draws at ``temperature``; ``engine`` is
    ``eval.engine``, for a trainer with more than one way to generate ("auto" lets it choose)."""

    mode: str = "greedy"
    samples: int = 1
    temperature: float = 1.0
    max_new_tokens: int = 64
    batch_size: int = 32
    seed: int = 0
    engine: str = "auto"


class Trainer(Protocol):
    """The shape a registered trainer has; any object with these members will do."""

    name: str
    description: str

    def base_policy(self, model: Any, workdir: Path) -> Any:
        """The base policy (before any RL) the study's trials start from."""

    def train(self, request: TrainRequest) -> TrainOutcome:
        """Run RL on ``request.mixture`` and return the trained policy; ``metrics["steps"]`` is the steps trained
        so far and, for a trainer with ``partial_runs``, ``metrics["total_steps"]`` the whole run's."""

    def generate(self, policy: Any, rows: Sequence[Row], request: GenerateRequest) -> list[list[str]]:
        """One list of completions per row (length 1 for greedy, ``samples`` otherwise)."""


class LaunchingTrainer(Trainer, Protocol):
    """Optional members for trials in child processes (``executor.trial_process = "child"``).

    ``preload``: modules the fork server that starts one-process child trials imports once, so that no
    trial pays their import. ``launch_command(processes, config_file)``: the command that starts
    ``processes`` copies of the Python module named after it (``... -m modomodo.child_trial JOB``), one
    per device, with the launcher's own config file if the user gave one; without it, a trial cannot
    span several processes.
    """

    preload: Sequence[str]

    def launch_command(self, processes: int, config_file: str | None) -> list[str]:
        """The launcher's argv, to which ``-m MODULE ARGS`` is appended."""
