"""The embedded testbed: five synthetic training domains and three out-of-domain benchmarks drawn with PIL.

Every source has the splits ``train``, ``test`` and ``warmup``; see docs/testbed.md for the design.
"""

from modomodo import hookimpl


@hookimpl
def register_datasets(register):
    from .sources import synthetic_sources

    for source in synthetic_sources():
        register(source)
