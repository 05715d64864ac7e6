"""The paper's datasets read from local copies: coco, lisa, geoqav, sat, scienceqa and the OOD benchmarks
chartqa, infovqa, mathvista, mmmu. Nothing is downloaded; docs/datasets.md describes the on-disk forms.
"""

from modomodo import hookimpl


@hookimpl
def register_datasets(register):
    from .sources import PAPER_SOURCES

    for source in PAPER_SOURCES:
        register(source.source())
