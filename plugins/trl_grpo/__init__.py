"""The ``trl-grpo`` trainer, the embedded ``tiny-qwen2vl`` base and ``modomodo build-base`` (heavy imports stay inside)."""

from modomodo import hookimpl


@hookimpl
def register_trainers(register):
    from .trainer import TrlGrpoTrainer

    register(TrlGrpoTrainer())


@hookimpl
def register_commands(cli):
    from .build_command import command

    cli.add_command(command)
