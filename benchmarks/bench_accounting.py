"""Benchmark dpsynth's privacy accountant: query and calibration time, and error against references.

Run from the repository root:

    python benchmarks/bench_accounting.py            # full run, a few minutes on 2 cores
    python benchmarks/bench_accounting.py --quick    # fewer settings

What it measures, each query cold (all caches cleared first):

1. Epsilon queries of the subsampled Gaussian over a grid of sigma and q, for
   100, 1,000 and 10,000 compositions: median and max wall time. Target: median
   at most 50 ms up to 10,000 compositions.
2. Calibrations (noise for a target epsilon) over a grid: median and max wall
   time. Target: at most 1 s up to 10,000 compositions.
3. Error of the estimate against Google's dp_accounting PLD accountant (value
   discretisation 1e-3, pessimistic) and prv-accountant (eps_error 0.01,
   delta_error delta/1000) where it does not fail, and whether the reference
   lies inside dpsynth's [lower, upper].
4. The LlamaIndex pack's configuration (prv-accountant with
   max_self_compositions=1000, eps_error=0.01, delta_error=1e-10) on the same
   settings, and the ratio of its time to dpsynth's.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import time
import warnings

import numpy as np

from dpsynth.accounting import calibrate, clear_caches, epsilon

DELTA = 1e-7


CPU_TIMES: list[float] = []


def timed(function, *arguments):
    """Return (result, wall seconds) of a cold call, and record its CPU seconds in CPU_TIMES."""
    clear_caches()
    start, start_cpu = time.perf_counter(), time.process_time()
    result = function(*arguments)
    CPU_TIMES.append(time.process_time() - start_cpu)
    return result, time.perf_counter() - start


def google_pld(sigma: float, q: float, count: int, delta: float) -> float:
    from dp_accounting import dp_event
    from dp_accounting.pld import pld_privacy_accountant

    accountant_ = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-3)
    accountant_.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), count)
    return accountant_.get_epsilon(delta)


def prv(sigma: float, q: float, count: int, delta: float, max_self: int, eps_error: float, delta_error: float):
    from prv_accountant import PRVAccountant
    from prv_accountant.privacy_random_variables import PoissonSubsampledGaussianMechanism

    accountant_ = PRVAccountant(
        prvs=[PoissonSubsampledGaussianMechanism(sampling_probability=q, noise_multiplier=sigma)],
        max_self_compositions=[max_self],
        eps_error=eps_error,
        delta_error=delta_error,
    )
    return accountant_.compute_epsilon(delta=delta, num_self_compositions=[count])


def milliseconds(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms"


def bench_queries(sigmas, rates, counts) -> dict[int, list[float]]:
    print("\n## Epsilon query, subsampled Gaussian, cold, delta = 1e-7")
    times: dict[int, list[float]] = {}
    widths: dict[int, list[float]] = {}
    for count in counts:
        CPU_TIMES.clear()
        for sigma, q in itertools.product(sigmas, rates):
            bounds, seconds = timed(epsilon, "gaussian", sigma, q, count, DELTA)
            times.setdefault(count, []).append(seconds)
            widths.setdefault(count, []).append((bounds.upper - bounds.lower) / 2)
        print(
            f"T={count:>6}: median {milliseconds(statistics.median(times[count]))}, "
            f"max {milliseconds(max(times[count]))} over {len(times[count])} settings "
            f"(CPU time: median {milliseconds(statistics.median(CPU_TIMES))}); "
            f"median half-width of [lower, upper] {statistics.median(widths[count]):.4f}"
        )
    return times


def bench_exponential(counts) -> None:
    print("\n## Epsilon query, exponential mechanism (exact binomial), cold, delta = 1e-7")
    for count in counts:
        seconds = [timed(epsilon, "exponential", eps0, q, count, DELTA)[1] for eps0 in (0.1, 1.0, 3.0) for q in (0.01, 0.1)]
        print(f"T={count:>6}: median {milliseconds(statistics.median(seconds))}, max {milliseconds(max(seconds))}")


def bench_calibration(targets, rates, counts) -> None:
    print("\n## Calibration of sigma to a target epsilon, cold, delta = 1e-7")
    for count in counts:
        seconds = []
        CPU_TIMES.clear()
        for target, q in itertools.product(targets, rates):
            result, elapsed = timed(calibrate, "gaussian", target, q, count, DELTA)
            assert result.epsilon.upper <= target
            seconds.append(elapsed)
        print(
            f"T={count:>6}: median {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s over {len(seconds)} targets "
            f"(CPU time: median {statistics.median(CPU_TIMES):.3f} s, max {max(CPU_TIMES):.3f} s)"
        )


def bench_accuracy(settings) -> None:
    print("\n## Error of the estimate against references (delta = 1e-7)")
    print("sigma, q, T | dpsynth estimate [lower, upper] | dp_accounting PLD (rel. diff) | prv-accountant (rel. diff)")
    worst_google = worst_prv = 0.0
    for sigma, q, count in settings:
        bounds = epsilon("gaussian", sigma, q, count, DELTA)
        google = google_pld(sigma, q, count, DELTA)
        google_diff = (bounds.estimate - google) / google
        worst_google = max(worst_google, abs(google_diff))
        inside = "inside" if bounds.lower <= google <= bounds.upper else "OUTSIDE"
        try:
            prv_estimate = prv(sigma, q, count, DELTA, count, 0.01, DELTA / 1000)[1]
            prv_diff = (bounds.estimate - prv_estimate) / prv_estimate
            worst_prv = max(worst_prv, abs(prv_diff))
            prv_text = f"{prv_estimate:.5f} ({prv_diff:+.2e})"
        except (RuntimeError, ValueError) as error:
            prv_text = f"failed: {error}"
        print(
            f"{sigma}, {q}, {count} | {bounds.estimate:.5f} [{bounds.lower:.5f}, {bounds.upper:.5f}] | "
            f"{google:.5f} ({google_diff:+.2e}, {inside}) | {prv_text}"
        )
    print(f"max |relative difference|: dp_accounting {worst_google:.2e}, prv-accountant {worst_prv:.2e}")


def bench_seed(settings) -> None:
    print("\n## The LlamaIndex pack's prv-accountant configuration against dpsynth, same settings, cold")
    ratios = []
    for sigma, q, count in settings:
        _, ours = timed(epsilon, "gaussian", sigma, q, count, DELTA)
        start = time.perf_counter()
        try:
            prv(sigma, q, count, DELTA, 1000, 0.01, 1e-10)
            outcome = "ok"
        except (RuntimeError, ValueError) as error:
            outcome = f"raised {type(error).__name__}"
        seed = time.perf_counter() - start
        ratios.append(seed / ours)
        print(f"sigma={sigma}, q={q}, T={count}: pack {seed:.2f} s ({outcome}), dpsynth {milliseconds(ours)}, ratio {seed / ours:.0f}x")
    print(f"median ratio pack / dpsynth: {statistics.median(ratios):.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run fewer settings")
    options = parser.parse_args()
    warnings.simplefilter("ignore")

    print("# dpsynth accounting benchmark")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs visible, "
          f"load average {os.getloadavg()[0]:.2f}")
    epsilon("gaussian", 1.0, 0.01, 10, DELTA)  # import and first-call costs

    sigmas = (0.5, 1.0, 2.0) if options.quick else (0.4, 0.6, 0.8, 1.0, 1.5, 2.0)
    rates = (0.001, 0.01, 0.1)
    counts = (100, 1000, 10000)
    bench_queries(sigmas, rates, counts)
    bench_exponential((100, 10000, 1000000))
    bench_calibration((1.0, 4.0) if options.quick else (1.0, 4.0, 8.0), rates, counts)

    accuracy = [(0.39, 20 / 30000, 100), (0.6, 0.01, 1000), (1.0, 0.1, 1000), (1.5, 0.01, 10000)]
    if not options.quick:
        accuracy += [(0.8, 0.001, 10000), (2.0, 0.1, 1000), (0.5, 0.05, 100)]
    bench_accuracy(accuracy)
    seed_settings = [(0.39, 20 / 30000, 100), (0.6, 0.01, 1000), (1.0, 0.1, 1000)]
    if not options.quick:
        seed_settings += [(2.0, 0.01, 100), (0.8, 0.001, 1000)]
    bench_seed(seed_settings)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
