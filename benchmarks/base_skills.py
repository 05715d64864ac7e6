"""What the embedded base can do before any RL, question type by question type.

For each testbed source (the five training domains, the three out-of-domain benchmarks and the
pretraining rows) and each question type in it, on held-out test rows:

- greedy score (exact / choice, or mean IoU for boxes: the verifiers of examples/quickstart.toml), and the
  same with every picture replaced by its blank background (how much the base reads the image);
- the best constant answer's score on the same rows (what a text prior alone gets);
- sampled answers at the training temperature: how many distinct answers 4 samples give, and the share of
  prompts whose 4 samples earn different rewards (GRPO learns only from such mixed groups);
- a new task no source asks, "is the number of dots odd or even?" on black dots: its greedy reward, to
  show whether a third-party plugin's task starts above zero.

Prints a table and saves benchmarks/results/base_skills.json.

Usage: python benchmarks/base_skills.py [--model-path DIR] [--rows 500] [--sample-rows 100]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from PIL import Image, ImageDraw

from modomodo import GenerateRequest, LoadRequest, get_component
from modomodo.config import ModelConfig

RESULTS = Path(__file__).parent / "results"
SOURCES = {  # source -> the verifier the quickstart scores it with
    "synth-detect": "iou-coco", "synth-ground": "iou-mean", "synth-geometry": "choice", "synth-spatial": "exact",
    "synth-science": "choice", "synth-chart": "exact", "synth-count": "exact", "synth-compose": "choice",
    "synth-perception": "exact",  # its box question ("the box of the only shape") is scored with iou-mean
}
TEMPERATURE = 0.8  # examples/quickstart.toml's train.temperature
GROUP = 4  # its num_generations


def dots_rows(count: int) -> list[dict]:
    """A task no testbed source asks: black dots on white, 'is the number of dots odd or even?'."""
    rows = []
    for index in range(count):
        rng = random.Random(f"dots/{index}")
        dots = rng.randint(1, 6)
        image = Image.new("RGB", (84, 84), "white")
        draw = ImageDraw.Draw(image)
        for _ in range(dots):
            x, y = rng.randint(5, 70), rng.randint(5, 70)
            draw.ellipse((x, y, x + 8, y + 8), fill="black")
        rows.append({
            "image": image,
            "problem": "Is the number of dots odd or even? Output the thinking process in <think> </think> and "
                       "final answer in <answer> </answer> tags.",
            "solution": f"<answer>{'odd' if dots % 2 else 'even'}</answer>",
            "task": "dots-parity",
        })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", default=None, help="a built base (default: the shipped one)")
    parser.add_argument("--rows", type=int, default=500, help="test rows per source for greedy scores")
    parser.add_argument("--sample-rows", type=int, default=100, help="rows per source for sampled answers")
    parser.add_argument("--output", default=str(RESULTS / "base_skills.json"))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    trainer = get_component("trainers", "trl-grpo")
    model = ModelConfig(path=args.model_path) if args.model_path else ModelConfig()
    policy = trainer.base_policy(model, Path("."))
    greedy = GenerateRequest(mode="greedy", max_new_tokens=48, batch_size=64)
    sampled = GenerateRequest(mode="sampled", samples=GROUP, temperature=TEMPERATURE, max_new_tokens=48, batch_size=32)
    exact = get_component("verifiers", "exact")
    started = time.monotonic()
    table: dict[str, dict] = {}
    for source, verifier_name in [*SOURCES.items(), ("dots-parity", "exact")]:
        rows = dots_rows(args.rows) if source == "dots-parity" else \
            get_component("datasets", source).load(LoadRequest(split="test", limit=args.rows, seed=0))
        answers = [a[0] for a in trainer.generate(policy, rows, greedy)]
        blank_rows = [dict(row, image=Image.new("RGB", row["image"].size, row["image"].getpixel((0, 0)))) for row in rows]
        blank_answers = [a[0] for a in trainer.generate(policy, blank_rows, greedy)]
        samples = trainer.generate(policy, rows[: args.sample_rows], sampled)
        by_task: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        verifiers = [get_component("verifiers", "iou-mean" if row["task"] == "box-of-shape" else verifier_name)
                     for row in rows]
        for row, answer, blank, verifier in zip(rows, answers, blank_answers, verifiers):
            entry = by_task[row["task"]]
            entry["verifier"] = verifier
            entry["score"].append(verifier(answer, row))
            entry["blank"].append(verifier(blank, row))
            entry["solution"].append(row["solution"])
            entry["format"].append(float("<answer>" in answer and "</answer>" in answer))
        for row, group, verifier in zip(rows, samples, verifiers):
            entry = by_task[row["task"]]
            rewards = [verifier(answer, row) for answer in group]
            entry["mixed"].append(float(len(set(rewards)) > 1))
            entry["distinct"].append(len({_answer(a) for a in group}))
        for task, entry in sorted(by_task.items()):
            best_constant = Counter(entry["solution"]).most_common(1)[0][0]
            constant = statistics.fmean(exact(f"<think>.</think>{best_constant}", {"solution": s})
                                        for s in entry["solution"]) if entry["verifier"].kind != "iou" else 0.0
            table[f"{source}/{task}"] = {
                "source": source, "task": task, "verifier": entry["verifier"].name, "rows": len(entry["score"]),
                "greedy": statistics.fmean(entry["score"]), "blank_image": statistics.fmean(entry["blank"]),
                "best_constant": constant,
                "format_rate": statistics.fmean(entry["format"]),
                "mixed_groups": statistics.fmean(entry["mixed"]) if entry["mixed"] else None,
                "distinct_answers": statistics.fmean(entry["distinct"]) if entry["distinct"] else None,
            }
            row = table[f"{source}/{task}"]
            mixed = "-" if row["mixed_groups"] is None else f"{row['mixed_groups']:.2f}"
            print(f"{source:>16} {task:<24} greedy {row['greedy']:.3f}  blank {row['blank_image']:.3f}  "
                  f"constant {constant:.3f}  "
                  f"mixed groups {mixed}  format {row['format_rate']:.2f}", flush=True)
    summary = {"model": args.model_path or "shipped", "rows": args.rows, "sample_rows": args.sample_rows,
               "temperature": TEMPERATURE, "group": GROUP, "by_task": table,
               "seconds": time.monotonic() - started}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def _answer(completion: str) -> str:
    start, end = completion.find("<answer>"), completion.find("</answer>")
    return completion[start + 8: end].strip() if 0 <= start < end else completion.strip()


if __name__ == "__main__":
    sys.exit(main())
