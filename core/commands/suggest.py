"""``modomodo suggest``: the next mixtures to train, from a history file of runs trained anywhere."""

from __future__ import annotations

import json

import click

from ..config import MAX_BATCH
from ..errors import HistoryError, PluginError, UsageError
from ..history import read_history
from ..optimizers import checked_proposals
from ..optimizers import recommend as recommend_mixtures
from ..plugins import get


def _option_value(text: str):
    """JSON when it parses (numbers, lists, true), else the raw string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_options(pairs: tuple[str, ...]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option expects KEY=VALUE, got {pair!r}")
        options[key.strip()] = _option_value(value.strip())
    return options


@click.command(name="suggest")
@click.option("--optimizer", "optimizer_name", required=True, help="Strategy name, e.g. botorch-gp, quadratic, seed.")
@click.option("--history", "history_path", required=True, type=click.Path(dir_okay=False),
              help="CSV or JSONL: one column per domain weight plus score columns.")
@click.option("--n", "count", default=1, show_default=True, type=click.IntRange(min=1, max=MAX_BATCH),
              help="Mixtures to propose.")
@click.option("--objective", default="out_score", show_default=True, help="Score column to maximise.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--domains", default=None, help="Comma list of the domain weight columns (default: inferred).")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
              help="Optimizer option, e.g. -o initial=seed (repeatable; values parsed as JSON when possible).")
@click.option("--recommend", is_flag=True,
              help="Print the mixture to bet on now instead of the next ones to try: the model's pick among the "
                   "tried mixtures, then over the simplex (the best observed one without a model).")
def command(optimizer_name, history_path, count, objective, seed, domains, options, recommend):
    """Propose the next mixtures from a history of runs; prints one JSON object per line."""
    try:
        factory = get("optimizers", optimizer_name)
    except PluginError as error:
        raise UsageError(str(error)) from None
    domain_list = [d.strip() for d in domains.split(",") if d.strip()] if domains else None
    names, history = read_history(history_path, objective=objective, domains=domain_list)
    optimizer = factory(names, objective=objective, seed=seed, **_parse_options(options))
    if recommend:
        for pick in recommend_mixtures(optimizer, history, objective):
            click.echo(json.dumps({"among": pick.among, "mixture": {name: pick.mixture[name] for name in names},
                                   "predicted": pick.predicted, "sd": pick.sd}))
        _print_diagnostics(optimizer, history)
        return
    try:
        proposals = optimizer.propose(history, count)
    except HistoryError as error:
        raise HistoryError(f"{history_path}: {error}") from None
    for mixture in checked_proposals(optimizer_name, proposals, names):
        click.echo(json.dumps({name: mixture[name] for name in names}))
    _print_diagnostics(optimizer, history)


def _print_diagnostics(optimizer, history) -> None:
    """The surrogate's leave-one-out fit on stderr, when the strategy has one and can fit the history."""
    if not hasattr(optimizer, "diagnostics"):
        return
    try:
        report = optimizer.diagnostics(history)
    except HistoryError as error:
        click.echo(f"diagnostics: none ({error})", err=True)
        return
    click.echo(f"diagnostics: {report.get('model', 'surrogate')}, leave-one-out R^2 {report['r2']:.3f}, "
               f"RMSE {report['rmse']:.4g} over {report['n']} runs", err=True)
