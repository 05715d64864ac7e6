"""What is checked before the first trial trains: every component the config names is installed and accepts
its options, so a typo costs seconds, not a day of GPU time. ``modomodo check`` and ``modomodo run`` both
call it; a problem is one line naming the config key, the value and what was expected."""

from __future__ import annotations

from .config import Config
from .errors import ModomodoError, PluginError
from .optimizers import configured_optimizer
from .plugins import get


def preflight(config: Config) -> list[str]:
    """Problems that would fail every trial (or the study after its initial design); empty when none."""
    problems = _missing_components(config)
    if problems:
        return problems
    trainer = get("trainers", config.model.trainer)
    check_config = getattr(trainer, "check_config", None)
    if check_config is not None:
        problems += [f"{line} (trainer {trainer.name!r})" for line in check_config(config)]
    try:
        optimizer = configured_optimizer(config)
    except ModomodoError as error:
        problems.append(f"optimizer.options: {error}")
        optimizer = None
    if not getattr(trainer, "partial_runs", False):
        partial = [f"eval.at = {config.eval.at}"] if config.eval.at != [1.0] else []
        if hasattr(optimizer, "propose_runs"):
            partial.append(f"optimizer.name = {config.optimizer.name!r} (a multi-fidelity strategy)")
        problems += [f"{what}: trainer {trainer.name!r} cannot stop a run part-way and continue it "
                     "(no partial_runs); every trial would fail" for what in partial]
    return problems


def _missing_components(config: Config) -> list[str]:
    initial = {"seed": "seed", "dirichlet": "random"}.get(config.optimizer.initial)
    wanted = [("trainers", config.model.trainer, "model.trainer"), ("optimizers", config.optimizer.name, "optimizer.name")]
    if initial is not None:
        wanted.append(("optimizers", initial, f"optimizer.initial = {config.optimizer.initial!r}"))
    wanted.append(("optimizers", "random", "the study's fallback when the optimizer cannot propose yet"))
    for section, entries in (("domains", config.domains), ("benchmarks", config.benchmarks)):
        for name, entry in entries.items():
            wanted.append(("datasets", entry.source, f"{section}.{name}.source"))
            verifiers = entry.verifier if isinstance(entry.verifier, list) else [entry.verifier]
            wanted.extend(("verifiers", v, f"{section}.{name}.verifier") for v in verifiers)
            if entry.format != "none":
                wanted.append(("verifiers", entry.format, f"{section}.{name}.format"))
    failures = []
    for kind, name, key in dict.fromkeys(wanted):
        try:
            get(kind, name)
        except PluginError as error:
            failures.append(f"{key}: {error}")
    return failures
