"""Closed forms and sound bounds for the Gaussian mechanism and its subsampled form.

Units: sigma is the noise multiplier, the noise standard deviation divided by
the L2 sensitivity, so every formula below uses sensitivity 1.

- Analytic Gaussian mechanism (Balle and Wang 2018): one Gaussian step with
  multiplier s has the exact profile
  ``delta(eps) = Phi(1/(2s) - eps*s) - exp(eps) * Phi(-1/(2s) - eps*s)``.
  T steps compose to one step with multiplier ``sigma / sqrt(T)``, so without
  subsampling (q = 1) this is exact for any T, and with q < 1 it is a sound upper
  bound, because subsampling never increases the hockey-stick divergence
  (joint convexity).
- One Poisson-subsampled Gaussian step has a closed-form profile in each
  direction of add/remove, because the privacy loss is monotone in the output.
  The larger of the two is exact for one step and a sound lower bound for T steps.
- Rényi DP of the subsampled Gaussian at integer orders (Mironov, Talwar and
  Zhang 2019) with the conversion of Balle et al. 2020 gives an epsilon that is
  never below the truth.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy.special import erfcx, gammaln, log_ndtr

from .inversion import invert_profile

__all__ = [
    "analytic_gaussian_delta",
    "analytic_gaussian_epsilon_bracket",
    "clear_cache",
    "rdp_epsilon",
    "rdp_orders_and_values",
    "subsampled_single_step_delta",
    "subsampled_single_step_epsilon_bracket",
]


def _log_sub_exp(log_a: float, log_b: float) -> float:
    """Return log(exp(log_a) - exp(log_b)), or -inf where the difference is not positive."""
    if log_b >= log_a:
        return -math.inf
    return log_a + math.log(-math.expm1(log_b - log_a))


def _log_scaled_ndtr(x: float) -> float:
    """Return log(Phi(x)) + x^2/2 without cancellation, for any real x (-inf at x = -inf)."""
    if x < 0:
        # Phi(x) = erfcx(-x/sqrt 2) exp(-x^2/2) / 2, and erfcx is finite and positive for x < 0.
        scaled = float(erfcx(-x / math.sqrt(2))) / 2
        return math.log(scaled) if scaled > 0 else -math.inf
    return float(log_ndtr(x)) + x * x / 2


# Relative rounding error allowed for Phi(a), the larger term of the Gaussian profile: about 4,500
# units of double-precision roundoff, well above the error of log_ndtr and erfcx measured against
# mpmath in the tests. Where the two terms nearly cancel (huge sigma), this error bar decides
# whether delta is above the target, so epsilon is never rounded down to 0.
_ROUNDING = 1e-12


def _log_analytic_gaussian_delta(noise_multiplier: float, epsilon: float, rounding: float = 0.0) -> float:
    """Return log delta(epsilon) of one Gaussian step, stable for any positive multiplier and epsilon >= 0.

    With a = 1/(2s) - eps*s and b = -1/(2s) - eps*s, the identity
    e^eps phi(b) = phi(a) gives delta = e^(-a^2/2) (M(a) - M(b)) with
    M(x) = Phi(x) e^(x^2/2), so the two terms are compared without the
    cancellation of e^eps Phi(b) at large epsilon. ``rounding`` (relative to
    Phi(a), in (-1, 1)) is added to the first term to bound the rounding error
    from above (positive) or below (negative).
    """
    s = noise_multiplier
    a = 1 / (2 * s) - epsilon * s
    b = -1 / (2 * s) - epsilon * s
    if a >= 0:
        # Phi(a) >= 1/2 needs no scaling, and a^2/2 may overflow to +inf, which makes the second term 0.
        log_first = float(log_ndtr(a)) + math.log1p(rounding)
        log_second = _log_scaled_ndtr(b) - a * a / 2
        return _log_sub_exp(log_first, log_second)
    log_first = _log_scaled_ndtr(a) + math.log1p(rounding)
    return _log_sub_exp(log_first, _log_scaled_ndtr(b)) - a * a / 2


def analytic_gaussian_delta(noise_multiplier: float, epsilon: float) -> float:
    """Return the exact delta(epsilon) of one Gaussian step with the given noise multiplier."""
    return math.exp(_log_analytic_gaussian_delta(noise_multiplier, epsilon))


def _bracket_with_rounding(profile: Callable[[float, float], float], delta: float, upper_start: float) -> tuple[float, float]:
    """Invert ``profile(epsilon, rounding)`` with the rounding error against the bracket on each side."""
    lower, _ = invert_profile(lambda eps: profile(eps, -_ROUNDING), delta, upper_start)
    _, upper = invert_profile(lambda eps: profile(eps, _ROUNDING), delta, upper_start)
    return lower, upper


def analytic_gaussian_epsilon_bracket(sigma: float, compositions: int, delta: float) -> tuple[float, float]:
    """Return a tight bracket of the exact epsilon of T unsubsampled Gaussian steps at ``delta``.

    Raises
    ------
    OverflowError
        If the epsilon exceeds the largest float, which happens for a noise
        multiplier sigma/sqrt(T) below about 1e-154.
    """
    effective = sigma / math.sqrt(compositions)
    # delta(eps) <= Phi(1/(2s) - eps*s), which is below delta at this epsilon; computed in a form that cannot overflow.
    start = (1 / (2 * effective) + math.sqrt(2 * math.log(1 / delta))) / effective

    def profile(eps: float, rounding: float) -> float:
        return math.exp(_log_analytic_gaussian_delta(effective, eps, rounding))

    return _bracket_with_rounding(profile, delta, start)


def _log_remove_step(epsilon: float, q: float) -> float:
    """Return log((e^eps - 1 + q) / q), the epsilon of the inner Gaussian pair in the remove direction."""
    if epsilon <= 0:
        return 0.0
    log_expm1 = epsilon + math.log(-math.expm1(-epsilon))
    return _log_add(log_expm1, math.log(q)) - math.log(q)


def _remove_delta(sigma: float, q: float, epsilon: float, rounding: float = 0.0) -> float:
    """delta(eps) of P = (1-q) N(0, s^2) + q N(1, s^2) against Q = N(0, s^2).

    P - e^eps Q = q (N(1, s^2) - e^L N(0, s^2)) with e^L = (e^eps - 1 + q) / q,
    so delta = q * delta_G(L), where delta_G is the one-step Gaussian profile.
    """
    return math.exp(math.log(q) + _log_analytic_gaussian_delta(sigma, _log_remove_step(epsilon, q), rounding))


def _add_delta(sigma: float, q: float, epsilon: float, rounding: float = 0.0) -> float:
    """delta(eps) of Q = N(0, s^2) against P = (1-q) N(0, s^2) + q N(1, s^2).

    Q - e^eps P = c (N(0, s^2) - e^L N(1, s^2)) with c = 1 - e^eps (1 - q) and
    e^L = q e^eps / c, so delta = c * delta_G(L) while c > 0, and 0 after.
    """
    # The loss -log(1 - q + q exp((2x - 1) / (2 s^2))) never exceeds -log(1 - q).
    if q >= 1.0 or epsilon >= -math.log1p(-q):
        return 0.0
    log_c = math.log(-math.expm1(epsilon + math.log1p(-q)))
    inner = max(0.0, epsilon + math.log(q) - log_c)
    return math.exp(log_c + _log_analytic_gaussian_delta(sigma, inner, rounding))


def _log_add(log_a: float, log_b: float) -> float:
    return float(np.logaddexp(log_a, log_b))


def subsampled_single_step_delta(sigma: float, q: float, epsilon: float) -> float:
    """Return the exact delta(epsilon) of one Poisson-subsampled Gaussian step under add/remove."""
    return max(_remove_delta(sigma, q, epsilon), _add_delta(sigma, q, epsilon))


def subsampled_single_step_epsilon_bracket(sigma: float, q: float, delta: float) -> tuple[float, float]:
    """Return a tight bracket of the exact epsilon of one subsampled Gaussian step at ``delta``."""

    def profile(eps: float, rounding: float) -> float:
        return max(_remove_delta(sigma, q, eps, rounding), _add_delta(sigma, q, eps, rounding))

    return _bracket_with_rounding(profile, delta, upper_start=1.0)


_ORDERS = np.unique(np.concatenate([np.arange(2, 65), np.geomspace(64, 4096, 25).round()])).astype(int)


@lru_cache(maxsize=512)
def _rdp_per_step(sigma: float, q: float) -> np.ndarray:
    """Rényi divergence bound of one subsampled Gaussian step at each integer order in ``_ORDERS``.

    For integer a, exp((a-1) D_a) = sum_i C(a, i) q^i (1-q)^(a-i) exp((i^2 - i) / (2 s^2)),
    which bounds both directions of add/remove (Mironov, Talwar and Zhang 2019).
    """
    if q >= 1.0:
        return _ORDERS * (0.5 / sigma / sigma)
    # One flat array of the terms i = 0..a of every order a, summed per order with reduceat.
    orders = np.repeat(_ORDERS, _ORDERS + 1).astype(float)
    starts = np.concatenate([[0], np.cumsum(_ORDERS + 1)[:-1]])
    i = np.arange(len(orders)) - np.repeat(starts, _ORDERS + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        log_terms = (
            gammaln(orders + 1) - gammaln(i + 1) - gammaln(orders - i + 1)
            + i * math.log(q) + (orders - i) * math.log1p(-q)
            + (i * i - i) * (0.5 / sigma / sigma)
        )
        peaks = np.maximum.reduceat(log_terms, starts)
        sums = np.add.reduceat(np.exp(log_terms - np.repeat(peaks, _ORDERS + 1)), starts)
        values = (peaks + np.log(sums)) / (_ORDERS - 1)
    # NaN arises only where a term overflows (inf - inf, or 0 * inf at 1/sigma^2 = inf), so the sum is +inf.
    return np.where(np.isnan(values), np.inf, values)


def rdp_orders_and_values(sigma: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the integer orders used and an upper bound on the Rényi divergence of one step at each."""
    return _ORDERS.astype(float), _rdp_per_step(sigma, q)


def rdp_epsilon(sigma: float, q: float, compositions: int, delta: float) -> float:
    """Return an epsilon at ``delta`` that is never below the truth, from Rényi DP.

    Uses integer orders 2 to 8192 and the conversion
    ``eps = T*rdp(a) + log((a-1)/a) - (log(delta) + log(a)) / (a-1)``
    (Balle, Barthe, Gaboardi, Hsu and Sato 2020).
    """
    orders = _ORDERS.astype(float)
    epsilons = (
        compositions * _rdp_per_step(sigma, q)
        + np.log((orders - 1) / orders)
        - (math.log(delta) + np.log(orders)) / (orders - 1)
    )
    return max(0.0, float(epsilons.min()))


def clear_cache() -> None:
    """Forget this module's cached results."""
    _rdp_per_step.cache_clear()
