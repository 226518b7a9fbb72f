"""Throughput of the audit's vectorised mechanism, and the audit's detection power.

Target: at least 1,000,000 noisy token selections per second with a universe of
20 tokens and 10 splits, so that an audit with a million runs takes seconds.

Throughput passes (best of ``--repeats`` passes, each ``--selections`` selections):

- ``gaussian_noisy_argmax``: the mechanism function that generation calls, on
  merged vectors of shape (runs, 20).
- ``exponential_noisy_argmax``: the same for the exponential mechanism.
- audit runs: :func:`dpsynth.audit.simulate_scores` on the dataset with the
  canary at q = 0.5, 10 steps per run, which adds the inclusion draws, the
  gathering of merged vectors and the scoring to the selections.

The rates are per wall-clock second and per CPU second of this process. A numpy
random generator runs on one core, and on a shared machine the process also
waits for a core, so the rate per CPU second is the steadier figure.

``--power`` also measures how often each audit setting flags each variant over
``--seeds`` seeds at several trial budgets: the figures behind the budgets in
the tests and in docs/audit.md.

Usage::

    python benchmarks/bench_audit.py            # throughput
    python benchmarks/bench_audit.py --power    # throughput and detection power
    python benchmarks/bench_audit.py --smoke    # seconds-long check that the script works
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np

from dpsynth.audit import AuditSettings, audit_mechanism, audit_vectors, claimed_epsilon, simulate_scores
from dpsynth.mechanisms import exponential_noisy_argmax, gaussian_noisy_argmax

TARGET = 1_000_000
UNIVERSE, SPLITS = 20, 10
CHUNK = 50_000

SETTING_A = AuditSettings(noise=1.5, compositions=5, sample_rate=1.0, delta=0.05)
SETTING_B = AuditSettings(noise=1.0, compositions=20, sample_rate=0.05, delta=1e-5)
POWER_CASES = (
    ("A", SETTING_A, "correct"),
    ("A", SETTING_A, "half_noise"),
    ("A", SETTING_A, "wrong_sensitivity"),
    ("B", SETTING_B, "correct"),
    ("B", SETTING_B, "reused_sample"),
)


def timed(work: Callable[[], None]) -> tuple[float, float]:
    """Run ``work`` once and return its wall-clock and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def best_rate(work: Callable[[], None], selections: int, repeats: int) -> tuple[float, float]:
    """Return the best selections per wall-clock second and per CPU second over ``repeats`` passes."""
    passes = [timed(work) for _ in range(repeats)]
    return selections / min(wall for wall, _ in passes), selections / min(cpu for _, cpu in passes)


def mechanism_pass(select: Callable, noise: float, selections: int, rng: np.random.Generator) -> Callable[[], None]:
    merged = np.broadcast_to(audit_vectors(SPLITS, UNIVERSE).with_canary, (CHUNK, UNIVERSE))

    def work() -> None:
        for _ in range(selections // CHUNK):
            select(merged, noise, SPLITS, rng)

    return work


def audit_pass(selections: int, rng: np.random.Generator) -> Callable[[], None]:
    settings = AuditSettings(noise=1.0, compositions=10, sample_rate=0.5, num_splits=SPLITS, universe_size=UNIVERSE)

    def work() -> None:
        simulate_scores(settings, "correct", selections // settings.compositions, True, rng)

    return work


def report_throughput(selections: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    passes = (
        ("gaussian_noisy_argmax", mechanism_pass(gaussian_noisy_argmax, 1.0, selections, rng)),
        ("exponential_noisy_argmax", mechanism_pass(exponential_noisy_argmax, 1.0, selections, rng)),
        ("audit runs (simulate_scores, q = 0.5)", audit_pass(selections, rng)),
    )
    print(f"Noisy selections per second, universe {UNIVERSE} tokens, {SPLITS} splits, "
          f"best of {repeats} passes of {selections:,} selections; target {TARGET:,}")
    print("| pass | per wall-clock second | ratio to target | per CPU second | ratio to target |")
    print("|---|---|---|---|---|")
    for name, work in passes:
        wall, cpu = best_rate(work, selections, repeats)
        print(f"| {name} | {wall:,.0f} | {wall / TARGET:.2f} | {cpu:,.0f} | {cpu / TARGET:.2f} |")


def report_audit_time(trials: int) -> None:
    rng = np.random.default_rng(1)
    claimed_epsilon(SETTING_A)
    wall, cpu = timed(lambda: audit_mechanism(SETTING_A, rng, trials=trials))
    runs = 2 * (trials + trials // 4)
    print(f"\nOne audit at setting A with {trials:,} runs per dataset ({runs * SETTING_A.compositions:,} "
          f"selections, two tokens): {wall:.2f} s wall-clock, {cpu:.2f} s CPU")


def report_power(budgets: tuple[int, ...], seeds: int) -> None:
    print(f"\nRuns flagged as violations, out of {seeds} seeds, by estimation runs per dataset")
    print("| setting | variant | claimed epsilon | " + " | ".join(f"{b:,} runs" for b in budgets) + " | mean bound at the largest |")
    print("|---|---|---|" + "---|" * len(budgets) + "---|")
    for name, settings, variant in POWER_CASES:
        claim = claimed_epsilon(settings).upper
        cells, bounds = [], []
        for budget in budgets:
            results = [audit_mechanism(settings, np.random.default_rng(seed), variant=variant, trials=budget)
                       for seed in range(seeds)]
            cells.append(f"{sum(r.violation for r in results)}/{seeds}")
            bounds = [r.epsilon_lower for r in results]
        print(f"| {name} | {variant} | {claim:.3f} | " + " | ".join(cells) + f" | {np.mean(bounds):.3f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selections", type=int, default=2_000_000, help="selections per throughput pass")
    parser.add_argument("--repeats", type=int, default=3, help="throughput passes, of which the fastest is reported")
    parser.add_argument("--power", action="store_true", help="also measure detection power")
    parser.add_argument("--seeds", type=int, default=20, help="seeds per power cell")
    parser.add_argument("--smoke", action="store_true", help="tiny workload; the numbers mean nothing")
    args = parser.parse_args(argv)

    print(f"Python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.smoke:
        report_throughput(CHUNK * 2, 1)
        report_power((100,), 2)
        return 0
    report_throughput(args.selections, args.repeats)
    report_audit_time(100_000)
    report_audit_time(1_000_000)
    if args.power:
        report_power((1_000, 10_000, 100_000), args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
