"""The hooks a modomodo plugin may implement (documented in docs/writing-plugins.md).

Each ``register_*`` hook is handed a ``register`` callable, so one plugin can
register many components and each is attributed to the plugin that made it.
"""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("modomodo")
hookimpl = HookimplMarker("modomodo")


@hookspec
def register_datasets(register):
    "Register dataset sources: register(DatasetSource(name, load, splits, description))."


@hookspec
def register_verifiers(register):
    "Register reward verifiers: register(Verifier(name, score, kind, value_range, description))."


@hookspec
def register_trainers(register):
    "Register trainer backends: register(trainer), trainer having .name, .base_policy(), .train(), .generate()."


@hookspec
def register_mixture_optimizers(register):
    "Register mixture optimizers: register(OptimizerFactory(name, create, description))."


@hookspec
def register_commands(cli):
    "Add commands to the modomodo click group ``cli``."
