"""Epsilon of a planned or finished run of one label: dispatch, checks, fallbacks.

Every result is checked against bounds that cannot be wrong before it is
returned: the exact one-step epsilon from below, and basic composition (pure DP)
or the unsubsampled analytic Gaussian and Rényi DP (Gaussian) from above. A
result that breaks them is discarded, and the sound upper bound is reported instead.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from . import gaussian, pld, pure_dp
from .types import AccountingError, EpsilonBounds, Mechanism

__all__ = ["clear_caches", "delta_curve", "epsilon", "epsilon_curve", "validate_inputs"]

logger = logging.getLogger("dpsynth")

# Slack for comparing numbers from different accountants: relative 1e-9 plus 1e-9.
_SLACK = 1e-9
# Sigmas for which the PLD accountant runs. Below, its quadrature panels (width sigma^2/2) number
# in the millions, and a step that includes the record has a loss of about 1/(2 sigma^2) > 1,000.
_PLD_SIGMA_RANGE = (0.02, 1e6)


def validate_inputs(mechanism: Mechanism | str, noise: float, sample_rate: float, compositions: int, delta: float) -> Mechanism:
    """Check the arguments of an epsilon query and return the mechanism as an enum.

    Raises
    ------
    ValueError
        With the bad value and the accepted range.
    """
    try:
        mechanism = Mechanism(mechanism)
    except ValueError:
        raise ValueError(f"mechanism={mechanism!r} is unknown: use 'gaussian' or 'exponential'.") from None
    name = "sigma" if mechanism is Mechanism.GAUSSIAN else "eps0 (per-token epsilon)"
    if not _is_real(noise) or not math.isfinite(noise) or noise <= 0:
        raise ValueError(f"{name}={noise!r} is invalid: give a finite number above 0.")
    if not _is_real(sample_rate) or not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate={sample_rate!r} is invalid: give a probability in (0, 1].")
    if isinstance(compositions, bool) or not isinstance(compositions, numbers.Integral) or compositions < 0:
        raise ValueError(f"compositions={compositions!r} is invalid: give a whole number of noisy selections, 0 or more.")
    if not _is_real(delta) or not 0 < delta < 1:
        raise ValueError(f"delta={delta!r} is invalid: give a probability in (0, 1), well below 1/n.")
    return mechanism


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def epsilon(
    mechanism: Mechanism | str,
    noise: float,
    sample_rate: float,
    compositions: int,
    delta: float,
) -> EpsilonBounds:
    """Return the epsilon of ``compositions`` noisy selections at ``delta``, with bounds.

    Parameters
    ----------
    mechanism : Mechanism or str
        ``"gaussian"`` or ``"exponential"``.
    noise : float
        Gaussian noise multiplier sigma, or the exponential mechanism's per-token
        epsilon eps0 (before subsampling).
    sample_rate : float
        Poisson sampling probability q of one step, in (0, 1].
    compositions : int
        Number of noisy selections T; 0 gives epsilon 0.
    delta : float
        Target delta, in (0, 1).

    Returns
    -------
    EpsilonBounds
        ``upper`` is a valid epsilon; ``method`` names the accountant used.

    Raises
    ------
    ValueError
        For an argument outside its range.
    AccountingError
        Where no sound accountant covers the setting, or the epsilon exceeds
        the largest float (sigma/sqrt(T) below about 1e-154).
    """
    mechanism = validate_inputs(mechanism, noise, sample_rate, compositions, delta)
    try:
        bounds = _epsilon_cached(mechanism, float(noise), float(sample_rate), int(compositions), float(delta))
    except OverflowError:
        bounds = None
    if bounds is None or not math.isfinite(bounds.upper):
        name = "sigma" if mechanism is Mechanism.GAUSSIAN else "eps0"
        direction = "raise sigma" if mechanism is Mechanism.GAUSSIAN else "lower eps0"
        raise AccountingError(
            f"{name}={noise:g} with sample_rate={sample_rate:g}, compositions={compositions} and delta={delta:g} "
            f"gives an epsilon too large for a float, which is no privacy at all: {direction}, "
            "or use calibrate to find the noise for a target epsilon."
        )
    return bounds


@lru_cache(maxsize=4096)
def _epsilon_cached(mechanism: Mechanism, noise: float, sample_rate: float, compositions: int, delta: float) -> EpsilonBounds:
    if compositions == 0:
        return EpsilonBounds(0.0, 0.0, 0.0, delta, "no-compositions")
    if mechanism is Mechanism.EXPONENTIAL:
        return _pure_dp_epsilon(noise, sample_rate, compositions, delta)
    if sample_rate == 1.0:
        lo, hi = gaussian.analytic_gaussian_epsilon_bracket(noise, compositions, delta)
        return EpsilonBounds(lo, hi, hi, delta, "analytic-gaussian")
    return _subsampled_gaussian_epsilon(noise, sample_rate, compositions, delta)


def _pure_dp_epsilon(eps0: float, sample_rate: float, compositions: int, delta: float) -> EpsilonBounds:
    step = pure_dp.amplified_epsilon(eps0, sample_rate)
    lo, hi = pure_dp.binomial_epsilon_bracket(step, compositions, delta)
    basic = compositions * step
    if hi > basic * (1 + _SLACK) + _SLACK:
        raise AccountingError(
            f"the exact pure-DP epsilon {hi} exceeds basic composition {basic} at eps_bar={step}, T={compositions}: "
            "this is a numerical failure; report the setting."
        )
    hi = min(hi, basic)
    lo = min(lo, hi)
    return EpsilonBounds(lo, hi, hi, delta, "binomial-exact")


def _subsampled_gaussian_epsilon(sigma: float, q: float, compositions: int, delta: float) -> EpsilonBounds:
    # A record joins no step with probability (1-q)^T, and the outputs are then identical,
    # so delta(0) <= 1 - (1-q)^T, the total variation distance.
    if -math.expm1(compositions * math.log1p(-q)) <= delta:
        return EpsilonBounds(0.0, 0.0, 0.0, delta, "participation-bound")

    floor, exact_one_step = gaussian.subsampled_single_step_epsilon_bracket(sigma, q, delta)
    if compositions == 1:
        return EpsilonBounds(floor, exact_one_step, exact_one_step, delta, "exact-one-step")

    ceiling = _gaussian_ceiling(sigma, q, compositions, delta)
    if not _PLD_SIGMA_RANGE[0] <= sigma <= _PLD_SIGMA_RANGE[1]:
        return EpsilonBounds(floor, ceiling, ceiling, delta, "rdp")

    try:
        result = pld.subsampled_gaussian_pld_epsilon(sigma, q, compositions, delta)
    except (ArithmeticError, ValueError) as error:
        logger.warning(
            "the PLD accountant failed (%s) at sigma=%g, q=%g, T=%d, delta=%g; reporting the Rényi DP upper bound",
            error, sigma, q, compositions, delta,
        )
        return EpsilonBounds(floor, ceiling, ceiling, delta, "rdp")

    values = (result.lower, result.estimate, result.upper)
    consistent = (
        all(math.isfinite(value) for value in values)
        and result.upper >= floor * (1 - _SLACK) - _SLACK
        and result.lower <= ceiling * (1 + _SLACK) + _SLACK
    )
    if not consistent:
        logger.warning(
            "the PLD accountant returned epsilon bounds [%g, %g] that are not finite or miss the sound range [%g, %g] "
            "(sigma=%g, q=%g, T=%d, delta=%g); reporting the Rényi DP upper bound",
            result.lower, result.upper, floor, ceiling, sigma, q, compositions, delta,
        )
        return EpsilonBounds(floor, ceiling, ceiling, delta, "rdp")

    lower = min(max(result.lower, floor), ceiling)
    upper = max(min(result.upper, ceiling), lower)
    estimate = min(max(result.estimate, lower), upper)
    return EpsilonBounds(lower, estimate, upper, delta, "pld-fft")


def _gaussian_ceiling(sigma: float, q: float, compositions: int, delta: float) -> float:
    """Return the smaller of two sound upper bounds: unsubsampled analytic Gaussian and Rényi DP."""
    try:
        _, analytic = gaussian.analytic_gaussian_epsilon_bracket(sigma, compositions, delta)
    except OverflowError:
        analytic = math.inf
    return min(analytic, gaussian.rdp_epsilon(sigma, q, compositions, delta))


def clear_caches() -> None:
    """Forget every cached accounting result, to free memory or to time queries cold."""
    _epsilon_cached.cache_clear()
    pld.clear_cache()
    gaussian.clear_cache()
    pure_dp.clear_cache()


def epsilon_curve(
    mechanism: Mechanism | str,
    noise: float,
    sample_rate: float,
    compositions: Sequence[int],
    delta: float,
) -> np.ndarray:
    """Return an array of shape (len(compositions), 3): lower, estimate, upper epsilon for each T."""
    rows = [epsilon(mechanism, noise, sample_rate, int(count), delta) for count in compositions]
    return np.array([(row.lower, row.estimate, row.upper) for row in rows], dtype=float).reshape(-1, 3)


def delta_curve(
    mechanism: Mechanism | str,
    noise: float,
    sample_rate: float,
    compositions: int,
    epsilons: Sequence[float],
) -> np.ndarray:
    """Return delta(epsilon), the privacy profile, for each epsilon in ``epsilons``.

    Exact for the exponential mechanism and for the Gaussian at q = 1. For the
    subsampled Gaussian, the PLD accountant's estimate (the larger of the add
    and remove directions), accurate to about 1e-4 relative where delta > 1e-10.
    """
    mechanism = validate_inputs(mechanism, noise, sample_rate, compositions, 0.5)
    values = np.asarray(epsilons, dtype=float)
    if mechanism is Mechanism.EXPONENTIAL:
        step = pure_dp.amplified_epsilon(noise, sample_rate)
        return np.array([pure_dp.binomial_delta(step, compositions, float(e)) for e in values])
    if compositions == 0:
        return np.zeros_like(values)
    if sample_rate == 1.0:
        effective = noise / math.sqrt(compositions)
        return np.array([gaussian.analytic_gaussian_delta(effective, float(e)) for e in values])
    return pld.subsampled_gaussian_pld_delta(noise, sample_rate, compositions, values)
