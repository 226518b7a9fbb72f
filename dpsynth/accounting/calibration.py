"""Inverse problems: the noise for a target epsilon of one label or a whole run, the compositions a budget allows."""

from __future__ import annotations

import math

from collections.abc import Callable, Mapping

from scipy.optimize import brentq

from .accountant import _is_real, epsilon, validate_inputs
from .run import account_checked_run, check_assumptions, check_run_inputs
from .types import AccountingError, Calibration, EpsilonBounds, Mechanism, PrivacyAssumptions

__all__ = ["calibrate", "calibrate_run", "max_compositions"]

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
    _check_target(target_epsilon)
    if compositions == 0:
        raise ValueError("compositions=0 spends no privacy budget, so any noise meets the target: plan at least 1 selection.")

    def bounds(noise: float) -> EpsilonBounds:
        return epsilon(mechanism, noise, sample_rate, compositions, delta)

    return _solve_noise(bounds, target_epsilon, mechanism)


def calibrate_run(
    mechanism: Mechanism | str,
    target_epsilon: float,
    pool_sizes: Mapping[str, int],
    compositions: Mapping[str, int],
    num_splits: int,
    shots: int,
    delta: float,
    assumptions: PrivacyAssumptions = PrivacyAssumptions(),
) -> Calibration:
    """Find the noise whose run account meets ``target_epsilon`` for the whole dataset.

    The same search as :func:`calibrate`, on ``account_run(...).dataset.upper``
    instead of one label's epsilon, so it covers every label and the
    neighbouring relation in ``assumptions`` (under replace-one, the worse of a
    cross-label and a within-label replacement). The returned noise lies on the
    safe side of the root within a relative 1e-5, so
    ``result.epsilon.upper <= target_epsilon``, and ``result.epsilon`` is the
    dataset's epsilon: ``account_run`` at ``result.noise`` gives the per-label
    details.

    Parameters
    ----------
    mechanism : Mechanism or str
        ``"gaussian"`` (returns sigma) or ``"exponential"`` (returns eps0).
    target_epsilon : float
        The dataset epsilon to meet, above 0.
    pool_sizes, compositions, num_splits, shots, delta, assumptions
        As for :func:`account_run`; at least one label must have compositions.

    Warns
    -----
    PrivacyWarning
        Once, for the same conditions as :func:`account_run`.

    Raises
    ------
    ValueError
        For an invalid argument or a target that no noise in [e^-40, e^40] meets.
    """
    mechanism = validate_inputs(mechanism, 1.0, 1.0, 0, delta)
    _check_target(target_epsilon)
    check_run_inputs(pool_sizes, compositions)
    if not any(count > 0 for count in compositions.values()):
        raise ValueError("compositions are 0 for every label, so any noise meets the target: plan at least 1 selection.")
    messages = check_assumptions(assumptions, delta, sum(pool_sizes.values()))

    def bounds(noise: float) -> EpsilonBounds:
        account = account_checked_run(
            mechanism, noise, pool_sizes, compositions, num_splits, shots, delta, assumptions, messages
        )
        return account.dataset

    return _solve_noise(bounds, target_epsilon, mechanism)


def _check_target(target_epsilon: float) -> None:
    if not _is_real(target_epsilon) or not math.isfinite(target_epsilon) or target_epsilon <= 0:
        raise ValueError(f"target_epsilon={target_epsilon!r} is invalid: give a finite number above 0.")


def _solve_noise(bounds: Callable[[float], EpsilonBounds], target_epsilon: float, mechanism: Mechanism) -> Calibration:
    """Return the noise, on the safe side within a relative 1e-5, where ``bounds(noise).upper`` meets the target.

    ``bounds(noise).upper`` must fall as sigma grows (Gaussian) or rise with
    eps0 (exponential). A noise whose epsilon overflows counts as above the target.
    """
    gaussian = mechanism is Mechanism.GAUSSIAN

    def gap(log_noise: float) -> float:
        try:
            upper = bounds(math.exp(log_noise)).upper
        except AccountingError:
            upper = math.inf
        return upper - target_epsilon

    safe, unsafe = _bracket(gap, gaussian, target_epsilon)
    # brentq needs finite values: clip the overflowed side to a value far above the target.
    def finite_gap(log_noise: float) -> float:
        return min(gap(log_noise), 1e300)

    root = brentq(finite_gap, min(safe, unsafe), max(safe, unsafe), xtol=_RELATIVE_TOLERANCE / 4, maxiter=200)
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
    return Calibration(noise=noise, epsilon=bounds(noise))


# Calibration searches noise in [e^-40, e^40], about 4e-18 to 2e17.
_LOG_NOISE_LIMIT = 40.0


def _bracket(gap: Callable[[float], float], gaussian: bool, target_epsilon: float) -> tuple[float, float]:
    """Return (safe, unsafe) log-noise values with gap(safe) <= 0 < gap(unsafe)."""
    start = 0.0
    direction = 1.0 if gaussian else -1.0
    name = "sigma" if gaussian else "eps0"
    if gap(start) <= 0:
        safe = start
        unsafe = start - direction
        while gap(unsafe) <= 0:
            safe = unsafe
            unsafe -= direction
            if abs(unsafe) > _LOG_NOISE_LIMIT:
                edge = math.exp(-direction * _LOG_NOISE_LIMIT)
                raise ValueError(
                    f"target_epsilon={target_epsilon:g} is met even at {name}={edge:.3g}, the end of the search range, "
                    "so it constrains nothing: give a smaller target epsilon."
                )
        return safe, unsafe
    unsafe = start
    safe = start + direction
    while gap(safe) > 0:
        unsafe = safe
        safe += direction
        if abs(safe) > _LOG_NOISE_LIMIT:
            edge = math.exp(direction * _LOG_NOISE_LIMIT)
            raise ValueError(
                f"target_epsilon={target_epsilon:g} is not met even at {name}={edge:.3g}, the end of the search range: "
                "raise the target epsilon or plan fewer compositions."
            )
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
