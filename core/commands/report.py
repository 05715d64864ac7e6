"""``modomodo report RUN_DIR``: rebuild the report and plots from a study's ledger."""

import click

from ..report import write_report


@click.command(name="report")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(file_okay=False))
def command(run_dir):
    """Rebuild report.md, the plots and summary.json in RUN_DIR from its trials.jsonl."""
    click.echo(write_report(run_dir))
