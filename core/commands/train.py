"""``modomodo train CONFIG --mixture 'a=0.5,b=0.5'``: one trial by hand, scores printed with their errors."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..config import load_config
from ..errors import ConfigError, UsageError
from ..mixture import Mixture, MixtureError
from ..plugins import get
from ..preflight import preflight
from ..scoring import aggregate, paired_margin
from ..trial import SHOWN_ANSWERS, evaluate, run_trial


def _pm(score: float, stderr: float) -> str:
    return "-" if math.isnan(score) else f"{score:.4f} ± {stderr:.4f}"


@click.command(name="train")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--mixture", "mixture_text", default=None,
              help="Domain weights, e.g. 'a=0.5,b=0.5' or a JSON object (default: the config's domains.*.weight).")
@click.option("--seed", type=int, default=None, help="Training seed (default: study.seed).")
@click.option("--base", "with_base", is_flag=True, help="Also score the base policy and show the paired gain over it.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Where the trial writes its files (default: a temporary folder).")
@click.option("--show", "shown", type=click.IntRange(0, SHOWN_ANSWERS), default=2, show_default=True,
              help="Answers to print per benchmark: question, reference, the model's answer, its score.")
def command(config_path, mixture_text, seed, with_base, workdir, shown):
    """Train one policy on a mixture of CONFIG's domains and print per-benchmark scores, In and Out."""
    config = load_config(config_path)
    problems = preflight(config)
    if problems:
        raise ConfigError("\n".join(f"{config_path}: {problem}" for problem in problems))
    if mixture_text is None:
        mixture = config.fixed_mixture()
        if mixture is None:
            raise UsageError(f"give --mixture, or set domains.*.weight in {config_path}")
    else:
        try:
            mixture = Mixture.parse(mixture_text, domains=config.domain_names)
        except MixtureError as error:
            raise UsageError(f"--mixture: {error}") from None
    seed = config.study.seed if seed is None else seed
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="modomodo-train-") as scratch:
        root = Path(workdir) if workdir else Path(scratch)
        with console.status(f"training on {mixture} (seed {seed})") as status:
            def progress(stage, done, total):
                status.update(f"{stage} {done}/{total} · {mixture} (seed {seed})")

            result = run_trial(config, mixture, seed, root / "trial", progress)
            base = None
            if with_base:
                status.update("scoring the base policy")
                policy = get("trainers", config.model.trainer).base_policy(config.model, root / "base")
                base = evaluate(config, policy, seed)
        answers = json.loads((root / "trial" / "answers.json").read_text())
    _print_answers(answers, shown)
    _print_result(config, result, base)


def _print_answers(answers: dict, shown: int) -> None:
    out = Console()
    for benchmark, examples in answers.items():
        for example in examples[:shown]:
            question = " ".join(example["problem"].split())
            out.print(f"[bold]{escape(benchmark)}[/bold] · score {example['score']:.2f} · "
                      f"{escape(question[:160])}{'...' if len(question) > 160 else ''}", highlight=False)
            out.print(f"  reference: {escape(example['solution'])}", highlight=False)
            for answer in example["answers"]:
                out.print(f"  answered:  {escape(answer)}", highlight=False)


def _print_result(config, result, base) -> None:
    out = Console()
    metrics = result.train_metrics
    out.print(f"mixture {result.mixture} · seed {result.seed} · {metrics.get('steps', '?')} steps · "
              f"{result.wall_time:.1f} s")
    table = Table("benchmark", "group", "n", "score ± s.e.", *(["base", "gain ± paired s.e."] if base else []))
    groups = {b.name: b.group for b in result.benchmarks}
    base_scores = {b.name: b for b in base[0]} if base else {}
    for bench in result.benchmarks:
        extra = []
        if base:
            gain = paired_margin(result.per_example, base[1], groups, bench.name)
            extra = [f"{base_scores[bench.name].score:.4f}", _pm(*gain)]
        table.add_row(bench.name, bench.group, str(bench.n), _pm(bench.score, bench.stderr), *extra)
    for group in ("in", "out"):
        score, stderr = result.summary[f"{group}_score"], result.summary[f"{group}_score_stderr"]
        extra = []
        if base:
            base_summary = aggregate(base[0])
            gain = paired_margin(result.per_example, base[1], groups, f"{group}_score")
            extra = [f"{base_summary[f'{group}_score']:.4f}", _pm(*gain)]
        table.add_row(f"[bold]{group.capitalize()}-Score[/bold]", group, "", _pm(score, stderr), *extra)
    out.print(table)
    if len(result.evaluations) > 1:  # eval.at: the scores on the way
        out.print("on the way (eval.at): " + "; ".join(
            f"{e['fraction']:.0%} (step {e['step']}): In {e['scores']['in_score']:.4f}, "
            f"Out {e['scores']['out_score']:.4f}" for e in result.evaluations))
