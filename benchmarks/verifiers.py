"""Verifier throughput: completions per second on 10,000 realistic completions, and one 100k-character worst case.

Completions are drawn deterministically (seed 0) in the paper's shape: a reasoning block of 20-120 words,
then an answer that is right, nearly right or wrong, with one in ten breaking the format. Every verifier
is timed through ``Verifier.__call__``, as training calls it. The worst case is the slowest of several
100,000-character completions built to hurt (boxes, repeated tags, one long number, junk); a
completion with 10,000 boxes (about 550,000 characters) is timed on its own.
``math`` is also timed off the main thread, where it runs in a helper process.

    nice -n 10 .venv/bin/python benchmarks/verifiers.py
"""

from __future__ import annotations

import json
import os
import platform
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from modomodo import get_component

N_COMPLETIONS = 10_000
LONG_SIZE = 100_000
RESULTS = Path(__file__).parent / "results"
WORDS = ("the object left of red circle so count bars value answer option because first then larger "
         "smaller area angle triangle side hawk eats grass energy flows chart shows").split()


def reasoning(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120)))


def wrap(rng: random.Random, answer: str) -> str:
    """The paper's template, with one completion in ten breaking the format in a common way."""
    think = reasoning(rng)
    broken = rng.random()
    if broken < 0.04:
        return f"{think} <answer>{answer}</answer>"          # forgot the reasoning tags
    if broken < 0.07:
        return f"<think>{think}</think> {answer}"            # forgot the answer tags
    if broken < 0.10:
        return f"<think>{think}</think><answer>{answer}"     # cut off by the token limit
    return f"<think>\n{think}\n</think>\n<answer>{answer}</answer>"


def box_case(rng: random.Random) -> tuple[str, dict]:
    width, height = rng.randint(200, 1280), rng.randint(200, 1280)
    truth = []
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
        x1, y1 = rng.uniform(0, width * 0.7), rng.uniform(0, height * 0.7)
        truth.append([round(x1), round(y1), round(x1 + rng.uniform(10, width * 0.3)), round(y1 + rng.uniform(10, height * 0.3))])
    predicted = [[c + rng.gauss(0, 8) for c in box] for box in truth if rng.random() < 0.8]
    if rng.random() < 0.3:
        predicted.append([rng.uniform(0, width), rng.uniform(0, height), width, height])
    records = ", ".join(f"{{'Position': [{', '.join(f'{c:.0f}' for c in box)}], 'Confidence': {rng.random():.2f}}}"
                        for box in predicted)
    solution = "<answer>[" + ", ".join(f"{{'Position': {box}, 'Confidence': 1}}" for box in truth) + "]</answer>"
    row = {"solution": solution, "bbox": "pixels", "image_width": width, "image_height": height}
    return wrap(rng, f"[{records}]"), row


def choice_case(rng: random.Random) -> tuple[str, dict]:
    truth = rng.choice("ABCD")
    guess = truth if rng.random() < 0.5 else rng.choice("ABCD")
    answer = rng.choice((guess, f"({guess})", f"The answer is {guess}.", f"{guess}. {rng.choice(WORDS)}"))
    return wrap(rng, answer), {"solution": f"<answer>{truth}</answer>"}


def exact_case(rng: random.Random) -> tuple[str, dict]:
    value = rng.randint(0, 5000)
    truth = rng.choice((str(value), rng.choice(WORDS), f"{value}%"))
    answer = rng.choice((truth, truth.upper(), f"{value:,}", f"{value}.0", rng.choice(WORDS)))
    return wrap(rng, answer), {"solution": f"<answer>{truth}</answer>"}


def math_case(rng: random.Random) -> tuple[str, dict]:
    numerator, denominator = rng.randint(1, 20), rng.randint(1, 20)
    truth = rf"\frac{{{numerator}}}{{{denominator}}}"
    answer = rng.choice((truth, f"{numerator / denominator:.6f}", str(rng.randint(1, 20)), f"x = {numerator}/{denominator}"))
    return wrap(rng, answer), {"solution": f"<answer>{truth}</answer>"}


CASES = {
    "format": choice_case, "format-lenient": choice_case,
    "iou-coco": box_case, "iou-binary": box_case, "iou-mean": box_case,
    "choice": choice_case, "exact": exact_case, "math": math_case,
}


def ten_thousand_boxes() -> str:
    """10,000 detection records in one answer (about 550,000 characters)."""
    boxes = ", ".join(f"{{'Position': [{i}, {i}, {i + 5}, {i + 5}], 'Confidence': 0.5}}" for i in range(10_000))
    return f"<think>x</think><answer>[{boxes}]</answer>"


def long_completions() -> dict[str, str]:
    """100,000-character completions built to hurt."""
    return {
        "boxes": ten_thousand_boxes()[:LONG_SIZE] + "]</answer>",
        "repeated <answer> tags": ("<answer>" * LONG_SIZE)[:LONG_SIZE],
        "nested tags": ("<think><answer>" * LONG_SIZE)[:LONG_SIZE] + "</answer></think>",
        "one long number": "<answer>[" + "9" * LONG_SIZE + ", 1, 2, 3]</answer>",
        "long reasoning": "<think>" + ("word " * LONG_SIZE)[:LONG_SIZE] + "</think><answer>B</answer>",
        "unicode junk": ("\U0001f600\u200b\x00é" * LONG_SIZE)[:LONG_SIZE],
    }


def throughput(verifier, cases) -> tuple[float, float]:
    started = time.perf_counter()
    total = sum(verifier(completion, row) for completion, row in cases)
    return len(cases) / (time.perf_counter() - started), total / len(cases)


def seconds(verifier, completion: str, row: dict) -> float:
    started = time.perf_counter()
    verifier(completion, row)
    return time.perf_counter() - started


def adversarial(verifier, row) -> dict:
    """Milliseconds for the slowest 100k-character completion, and for 10,000 boxes."""
    timings = {kind: seconds(verifier, completion, row) for kind, completion in long_completions().items()}
    kind = max(timings, key=timings.get)
    return {"worst_100k_ms": timings[kind] * 1000, "worst_100k_kind": kind,
            "ten_thousand_boxes_ms": seconds(verifier, ten_thousand_boxes(), row) * 1000}


def main() -> None:
    results = {}
    long_row = {"solution": "<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}]</answer>",
                "bbox": "rel1000", "image_width": 640, "image_height": 480}
    for name, make in CASES.items():
        rng = random.Random(0)
        cases = [make(rng) for _ in range(N_COMPLETIONS)]
        verifier = get_component("verifiers", name)
        verifier(*cases[0])  # warm-up: imports (math-verify) happen here, not in the timing
        per_second, mean_reward = throughput(verifier, cases)
        results[name] = {"completions_per_second": per_second, "mean_reward": mean_reward,
                         **adversarial(verifier, long_row)}
    rng = random.Random(0)
    math_cases = [math_case(rng) for _ in range(N_COMPLETIONS // 10)]
    verifier = get_component("verifiers", "math")
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(verifier, *math_cases[0]).result()  # starts the helper process
        per_second, mean_reward = pool.submit(throughput, verifier, math_cases).result()
        slowest = pool.submit(adversarial, verifier, long_row).result()
    results["math (off main thread)"] = {"completions_per_second": per_second, "mean_reward": mean_reward,
                                         **slowest, "completions": len(math_cases)}

    print(f"{'verifier':<24}{'completions/s':>15}{'mean reward':>13}{'worst 100k ms':>15}{'10k boxes ms':>14}"
          "  slowest 100k case")
    for name, row in results.items():
        print(f"{name:<24}{row['completions_per_second']:>15,.0f}{row['mean_reward']:>13.3f}"
              f"{row['worst_100k_ms']:>15.2f}{row['ten_thousand_boxes_ms']:>14.2f}  {row['worst_100k_kind']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    output = {
        "completions": N_COMPLETIONS, "long_completion_chars": LONG_SIZE,
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "verifiers": results,
    }
    (RESULTS / "verifiers.json").write_text(json.dumps(output, indent=2) + "\n")
    print(f"saved {RESULTS / 'verifiers.json'}")


if __name__ == "__main__":
    main()
