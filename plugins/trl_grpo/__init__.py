"""The ``trl-grpo`` trainer and the embedded ``tiny-qwen2vl`` model (heavy imports stay inside)."""

from modomodo import hookimpl


@hookimpl
def register_trainers(register):
    from .trainer import TrlGrpoTrainer

    register(TrlGrpoTrainer())
