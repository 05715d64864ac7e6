"""The hooks a modomodo plugin may implement.

Each ``register_*`` hook is handed a ``register`` callable, so one plugin can
register many components and each is attributed to the plugin that made it.
"""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("modomodo")
hookimpl = HookimplMarker("modomodo")


@hookspec
def register_datasets(register):
    "Register dataset sources: register(DatasetSource(...))."


@hookspec
def register_verifiers(register):
    "Register reward verifiers: register(Verifier(...))."


@hookspec
def register_trainers(register):
    "Register trainer backends: register(trainer) where trainer has .name, .train() and .generate()."


@hookspec
def register_mixture_optimizers(register):
    "Register mixture optimizers: register(name, factory) where factory(domains, objective, seed, **options) has .propose(history, n)."


@hookspec
def register_commands(cli):
    "Add commands to the modomodo click group."
