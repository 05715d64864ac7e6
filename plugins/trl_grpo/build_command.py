"""``modomodo build-base``: build (or resume building) the embedded base model, then export it."""

from __future__ import annotations

from pathlib import Path

import click

from modomodo import parse_assignment


@click.command(name="build-base")
@click.option("--output", type=click.Path(file_okay=False), default="tiny-qwen2vl-base", show_default=True,
              help="Where the exported base goes (safetensors, tokenizer, processor, recipe.json, SHA256SUMS).")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Where checkpoints go; run the same command again to resume (default: OUTPUT.build).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A recipe setting, e.g. --set steps=30000 --set size=small (see docs/trainer.md).")
def command(output, workdir, settings):
    """Train the embedded base model by supervised fine-tuning on the testbed (CPU hours, resumable).

    The result loads with model.path = OUTPUT; the base shipped with modomodo was made by this command
    with its default recipe.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .base_model import Recipe, build

    recipe = Recipe.from_options(dict(parse_assignment(text) for text in settings))
    output = Path(output)
    workdir = Path(workdir) if workdir else output.with_name(output.name + ".build")
    console = Console(stderr=True)
    with Progress(TextColumn("building the base"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[note]}"), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("build", total=recipe.steps, note="")

        def progress(stage, done, total, note):
            if stage == "eval":
                console.print(f"step {done}: held-out score {note}")
            else:
                bar.update(task, completed=done, note=note)

        record = build(recipe, workdir, output, progress)
    console.print(f"built {record['parameters']:,} parameters in {record['build_seconds'] / 60:.0f} min "
                  f"(final loss {record['final_loss']}); written to {output}; checkpoints kept in {workdir}")
