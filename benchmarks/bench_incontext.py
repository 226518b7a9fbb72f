"""Measure the throughput of the offline in-context model in prompts per second.

The prompts are few-shot prompts of 5 to 10 examples from the bundled demo
dataset, with a prefix cut from another record of the same label, as the
mechanism sends them. Three kinds of pass are timed, each ``--repeats`` times, and the best rate is
printed, per wall-clock second and per CPU second of the process (the second is
less disturbed by other processes on a shared machine):

- cold: a fresh model, so every context builds its background vectors;
- warm: the same prompts again, with the background vectors cached;
- per step: groups of ``--splits`` prompts that share a label and prefix, as
  one token step of the mechanism sends them, on a fresh model.

Run: ``python benchmarks/bench_incontext.py`` (options: ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import importlib.resources
import os
import platform
import time

import numpy as np

from dpsynth.incontext import InContextModel
from dpsynth.prompts import PromptBundle, few_shot_prompt


def read_records() -> list[dict]:
    resource = importlib.resources.files("dpsynth") / "datasets" / "patient_messages.jsonl"
    return [json.loads(line) for line in resource.read_text(encoding="utf-8").splitlines()]


def random_prefix(text: str, rng: np.random.Generator) -> str:
    words = text.split()
    cut = int(rng.integers(0, len(words)))
    return "".join(" " + word for word in words[:cut])


def build_prompts(count: int, splits: int, rng: np.random.Generator) -> list[str]:
    """Return ``count`` prompts in groups of ``splits`` that share a label and a prefix."""
    records = read_records()
    by_label: dict[str, list[str]] = {}
    for record in records:
        by_label.setdefault(record["label"], []).append(record["text"])
    labels = sorted(by_label)
    bundle = PromptBundle()
    prompts = []
    while len(prompts) < count:
        label = labels[int(rng.integers(len(labels)))]
        texts = by_label[label]
        prefix = random_prefix(texts[int(rng.integers(len(texts)))], rng)
        for _ in range(splits):
            shots = int(rng.integers(5, 11))
            chosen = rng.choice(len(texts), size=shots, replace=False)
            examples = [(label, texts[index]) for index in chosen]
            prompts.append(few_shot_prompt(bundle, examples, label, prefix))
    return prompts[:count]


def prompts_per_second(model: InContextModel, prompts: list[str], top_k: int) -> tuple[float, float]:
    """Return the rate in prompts per wall-clock second and per CPU second of this process."""
    wall = time.perf_counter()
    cpu = time.process_time()
    asyncio.run(model.top_logprobs(prompts, top_k))
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    return len(prompts) / wall, len(prompts) / cpu


def best_rate(passes: list[tuple[float, float]]) -> str:
    wall = max(rate for rate, _ in passes)
    cpu = max(rate for _, rate in passes)
    return f"{wall:8.0f} prompts/s wall, {cpu:8.0f} per CPU second"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=5000, help="prompts per pass (default 5000)")
    parser.add_argument("--splits", type=int, default=10, help="prompts per token step (default 10)")
    parser.add_argument("--top-k", type=int, default=20, help="candidates per prompt (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompt sampling (default 0)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of each kind (default 3)")
    arguments = parser.parse_args()

    rng = np.random.default_rng(arguments.seed)
    independent = build_prompts(arguments.prompts, 1, rng)
    grouped = build_prompts(arguments.prompts, arguments.splits, rng)

    start = time.perf_counter()
    model = InContextModel()
    build_seconds = time.perf_counter() - start
    cold, warm, per_step = [], [], []
    for _ in range(arguments.repeats):
        model = InContextModel()
        cold.append(prompts_per_second(model, independent, arguments.top_k))
        warm.append(prompts_per_second(model, independent, arguments.top_k))
        per_step.append(prompts_per_second(InContextModel(), grouped, arguments.top_k))

    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    print(f"model built in {build_seconds:.2f} s, vocabulary {len(model.vocabulary)} tokens")
    print(
        f"{arguments.prompts} prompts of 5 to 10 shots, top_k={arguments.top_k}, "
        f"best of {arguments.repeats} passes"
    )
    print(f"cold (fresh model, one prompt per prefix): {best_rate(cold)}")
    print(f"warm (the same prompts again):             {best_rate(warm)}")
    print(f"per step ({arguments.splits} prompts per prefix):        {best_rate(per_step)}")


if __name__ == "__main__":
    main()
