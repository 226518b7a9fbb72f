"""Inverse problems: the noise for a target epsilon, the compositions a budget allows."""

from __future__ import annotations

import math

from scipy.optimize import brentq

from .accountant import epsilon, validate_inputs
from .types import AccountingError, Calibration, Mechanism

__all__ = ["calibrate", "max_compositions"]

_RELATIVE_TOLERANCE = 1e-5


def calibrate(
    mechanism: Mechanism | str,
    target_epsilon: float,
    sample_rate: float,
    compositions: int,
    delta: float,
) -> Calibration:
    """Find the noise whose accounted epsilon meets ``target_epsilon``.

    Brent's method on the logarithm of the noise finds the root of
    ``epsilon(noise).upper = target_epsilon``. The returned noise lies on the
    safe side of the root (larger sigma, or smaller eps0), within a relative
    1e-5 of it, so ``result.epsilon.upper <= target_epsilon``.

    Parameters
    ----------
    mechanism : Mechanism or str
        ``"gaussian"`` (returns sigma) or ``"exponential"`` (returns eps0).
    target_epsilon : float
        The epsilon to meet, above 0.
    sample_rate, compositions, delta
        As for :func:`epsilon`; ``compositions`` must be at least 1.

    Raises
    ------
    ValueError
        For an invalid argument or a target that no noise can meet.
    """
    mechanism = validate_inputs(mechanism, 1.0, sample_rate, compositions, delta)
    if not isinstance(target_epsilon, (int, float)) or not math.isfinite(target_epsilon) or target_epsilon <= 0:
        raise ValueError(f"target_epsilon={target_epsilon!r} is invalid: give a finite number above 0.")
    if compositions == 0:
        raise ValueError("compositions=0 spends no privacy budget, so any noise meets the target: plan at least 1 selection.")
    gaussian = mechanism is Mechanism.GAUSSIAN

    def upper(log_noise: float) -> float:
        return epsilon(mechanism, math.exp(log_noise), sample_rate, compositions, delta).upper

    def gap(log_noise: float) -> float:
        return upper(log_noise) - target_epsilon

    safe, unsafe = _bracket(gap, gaussian)
    root = brentq(gap, min(safe, unsafe), max(safe, unsafe), xtol=_RELATIVE_TOLERANCE / 4, maxiter=200)
    step = _RELATIVE_TOLERANCE / 4 if gaussian else -_RELATIVE_TOLERANCE / 4
    candidate = root
    for _ in range(64):
        if gap(candidate) <= 0:
            break
        candidate += step
        step *= 2
    else:
        candidate = safe
    noise = math.exp(candidate)
    return Calibration(noise=noise, epsilon=epsilon(mechanism, noise, sample_rate, compositions, delta))


def _bracket(gap, gaussian: bool) -> tuple[float, float]:
    """Return (safe, unsafe) log-noise values with gap(safe) <= 0 < gap(unsafe)."""
    start = 0.0
    direction = 1.0 if gaussian else -1.0
    if gap(start) <= 0:
        safe = start
        unsafe = start - direction
        while gap(unsafe) <= 0:
            safe = unsafe
            unsafe -= direction
            if abs(unsafe) > 40:
                raise ValueError("the target epsilon is met by every noise level tried; check the arguments.")
        return safe, unsafe
    unsafe = start
    safe = start + direction
    while gap(safe) > 0:
        unsafe = safe
        safe += direction
        if abs(safe) > 40:
            raise ValueError("no noise level meets the target epsilon; raise the target or lower compositions.")
    return safe, unsafe


def max_compositions(
    mechanism: Mechanism | str,
    noise: float,
    sample_rate: float,
    max_epsilon: float,
    delta: float,
    limit: int = 10_000_000,
) -> int:
    """Return the largest T whose accounted epsilon (upper bound) is at most ``max_epsilon``.

    Bisection on the integer T, valid because epsilon grows with T. Returns 0
    when even one selection exceeds the budget, and ``limit`` when ``limit``
    selections still fit.
    """
    validate_inputs(mechanism, noise, sample_rate, 1, delta)
    if not isinstance(max_epsilon, (int, float)) or not max_epsilon >= 0:
        raise ValueError(f"max_epsilon={max_epsilon!r} is invalid: give a number 0 or more.")

    def fits(count: int) -> bool:
        return epsilon(mechanism, noise, sample_rate, count, delta).upper <= max_epsilon

    if not fits(1):
        return 0
    good = 1
    bad = 2
    while fits(bad):
        good = bad
        if bad >= limit:
            return limit
        bad = min(2 * bad, limit + 1)
        if bad > limit:
            if fits(limit):
                return limit
            bad = limit
            break
    while bad - good > 1:
        middle = (good + bad) // 2
        if fits(middle):
            good = middle
        else:
            bad = middle
    return good
