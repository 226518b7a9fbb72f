"""Exact accounting for a composed pure-DP step: the exponential mechanism.

One noisy selection with the exponential mechanism is ``eps0``-DP on the pool it
sees. Poisson subsampling with rate q amplifies it to
``eps_bar = log(1 + q * (exp(eps0) - 1))`` (Balle, Barthe and Gaboardi 2018).
Every eps_bar-DP step is dominated by randomized response with eps_bar, and
randomized response composes in closed form (Kairouz, Oh and Viswanath 2015): after
T steps the privacy loss is ``eps_bar * (T - 2K)`` with K ~ Binomial(T, 1 - p) and
``p = e^eps_bar / (1 + e^eps_bar)``. So

    delta(eps) = sum over k with L_k > eps of C(T, k) p^(T-k) (1-p)^k (1 - exp(eps - L_k)),
    L_k = eps_bar * (T - 2k),

is the exact privacy profile of the worst eps_bar-DP mechanism composed T times,
with no discretisation error.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import gammaln, log_expit

from .inversion import invert_profile

__all__ = ["amplified_epsilon", "binomial_delta", "binomial_epsilon_bracket", "clear_cache"]


def amplified_epsilon(eps0: float, sample_rate: float) -> float:
    """Return ``log(1 + q * (exp(eps0) - 1))``, the epsilon of an eps0-DP step under Poisson rate q."""
    if eps0 > 700:
        # exp(eps0) overflows, so use log(q e^eps0 + 1 - q) = eps0 + log(q) + log1p((1 - q) e^-eps0 / q).
        return math.log(sample_rate) + eps0 + math.log1p((1 - sample_rate) / sample_rate * math.exp(-eps0))
    return math.log1p(sample_rate * math.expm1(eps0))


# Total weight of the binomial terms that are dropped for speed; see _BinomialProfile.
_LOG_CUT = math.log(1e-30)


class _BinomialProfile:
    """Log-weights and losses of T-fold randomized response with a given epsilon.

    Only the flips k with |k - T(1-p)| <= sqrt(T log(2/c) / 2) are kept, with
    c = 1e-30: by Hoeffding's inequality the dropped terms weigh at most c in
    total, which ``delta`` adds back, so it never understates the profile.
    """

    def __init__(self, step_epsilon: float, compositions: int) -> None:
        log_p = float(log_expit(step_epsilon))
        log_not_p = float(log_expit(-step_epsilon))
        centre = compositions * math.exp(log_not_p)
        reach = math.sqrt(compositions * (math.log(2) - _LOG_CUT) / 2)
        first = max(0, int(math.floor(centre - reach)))
        last = min(compositions, int(math.ceil(centre + reach)))
        self.dropped = 0.0 if (first == 0 and last == compositions) else math.exp(_LOG_CUT)
        k = np.arange(first, last + 1, dtype=float)
        self.log_weights = (
            gammaln(compositions + 1) - gammaln(k + 1) - gammaln(compositions - k + 1)
            + (compositions - k) * log_p + k * log_not_p
        )
        self.losses = step_epsilon * (compositions - 2 * k)

    def delta(self, epsilon: float) -> float:
        above = self.losses > epsilon
        if not above.any():
            return self.dropped
        log_terms = self.log_weights[above] + np.log(-np.expm1(epsilon - self.losses[above]))
        top = log_terms.max()
        return float(math.exp(top) * np.exp(log_terms - top).sum()) + self.dropped


@lru_cache(maxsize=64)
def _profile(step_epsilon: float, compositions: int) -> _BinomialProfile:
    return _BinomialProfile(step_epsilon, compositions)


def binomial_delta(step_epsilon: float, compositions: int, epsilon: float) -> float:
    """Return delta(epsilon) of ``compositions`` steps of randomized response with ``step_epsilon``."""
    if compositions == 0 or step_epsilon == 0.0:
        return 0.0
    return _profile(step_epsilon, compositions).delta(epsilon)


def binomial_epsilon_bracket(step_epsilon: float, compositions: int, delta: float) -> tuple[float, float]:
    """Return a tight bracket of the exact epsilon of T-fold randomized response at ``delta``."""
    if compositions == 0 or step_epsilon == 0.0:
        return 0.0, 0.0
    profile = _profile(step_epsilon, compositions)
    return invert_profile(profile.delta, delta, upper_start=step_epsilon * compositions)


def clear_cache() -> None:
    """Forget this module's cached results."""
    _profile.cache_clear()
