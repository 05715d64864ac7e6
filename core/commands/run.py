"""``modomodo run CONFIG``: the study, resumable, with a live view and a final report."""

import click

from ..config import load_config
from ..errors import TrialError
from ..live import StudyView
from ..report import write_report
from ..study import Study


@click.command(name="run")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--restart", is_flag=True, help="Start afresh; the earlier run directory is kept, renamed.")
def command(config_path, restart):
    """Run the mixture study in CONFIG. Running it again resumes where it stopped."""
    config = load_config(config_path)
    with StudyView(config) as view:
        study = Study(config, config_path, restart=restart, view=view)
        earlier = study.ledger.finished()
        if earlier:
            view.say(f"Resuming {study.run_dir}: {len(earlier)} finished trial(s) read from the ledger.")
            view.resumed(earlier)
        try:
            records = study.run()
        finally:
            if study.ledger.finished():
                report = write_report(study.run_dir)
                view.say(f"Report: {report}")
    trials = [r for r in records if r.get("role") in ("search", "confirm")]
    if trials and all(r.get("status") == "failed" for r in trials):
        first = trials[0]
        raise TrialError(f"every trial failed; the first, {first['id']}: {first.get('error')} "
                         f"(traceback: {study.run_dir / 'trials' / first['id'] / 'error.log'})")
