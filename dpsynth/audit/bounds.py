"""Statistics of an audit: confidence bounds on error rates and the epsilon they imply.

A distinguishing test looks at one run of the mechanism and decides whether
the canary record was in the data. Its false-positive rate ``a`` (it decides
"present" on a run without the canary) and false-negative rate ``b`` (it decides
"absent" on a run with it) constrain every (epsilon, delta)-DP mechanism:

    a + e^eps * b >= 1 - delta   and   e^eps * a + b >= 1 - delta,

so ``eps >= max(ln((1 - delta - a) / b), ln((1 - delta - b) / a))``. The right
side decreases in ``a`` and in ``b``, so one-sided upper confidence bounds on
both rates give a lower bound on epsilon. Each rate gets a Clopper-Pearson
bound at confidence ``1 - (1 - c) / 2`` (Bonferroni), so that both hold at once,
and with them the epsilon bound, with probability at least ``c``.

The Gaussian-shaped estimate assumes more. If the mechanism's trade-off curve
is that of a mu-GDP mechanism, ``b >= Phi(Phi^-1(1 - a) - mu)`` for every test
(Dong, Roth and Su 2022, "Gaussian differential privacy"). The observed bounds
then give ``mu >= Phi^-1(1 - a_upper) - Phi^-1(b_upper)``, and epsilon at delta
follows from the analytic Gaussian mechanism's privacy profile. The estimate is
tighter because it reads the whole curve from one point, and it is only as valid
as that assumption.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = [
    "clopper_pearson_upper",
    "epsilon_from_rates",
    "gaussian_dp_epsilon",
    "gaussian_dp_mu",
    "max_certifiable_epsilon",
    "per_rate_confidence",
    "select_threshold",
    "threshold_error_counts",
]


def _check_probability(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}={value!r} is invalid: give a number in (0, 1).")
    if not 0 < value < 1:
        raise ValueError(f"{name}={value!r} is invalid: give a number in (0, 1).")
    return float(value)


def per_rate_confidence(confidence: float) -> float:
    """Return ``1 - (1 - c) / 2``, the confidence of each of the two rate bounds."""
    confidence = _check_probability("confidence", confidence)
    return 1.0 - (1.0 - confidence) / 2.0


def clopper_pearson_upper(successes: int, trials: int, confidence: float) -> float:
    """Return the one-sided Clopper-Pearson upper bound on a binomial rate.

    The bound is the ``confidence`` quantile of Beta(successes + 1, trials - successes),
    and 1 when every trial is a success. It covers the true rate with
    probability at least ``confidence``.
    """
    confidence = _check_probability("confidence", confidence)
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials={trials!r} is invalid: give a whole number, 1 or more.")
    if isinstance(successes, bool) or not isinstance(successes, (int, np.integer)) or not 0 <= successes <= trials:
        raise ValueError(f"successes={successes!r} is invalid: give a whole number from 0 to trials={trials}.")
    if successes == trials:
        return 1.0
    return float(stats.beta.ppf(confidence, successes + 1, trials - successes))


def _log_ratio(numerator: float, denominator: float) -> float:
    if numerator <= 0.0:
        return 0.0
    if denominator <= 0.0:
        return math.inf
    return math.log(numerator / denominator)


def epsilon_from_rates(false_positive_rate: float, false_negative_rate: float, delta: float) -> float:
    """Return ``max(0, ln((1 - delta - a) / b), ln((1 - delta - b) / a))``.

    This is the smallest epsilon at which an (epsilon, delta)-DP mechanism
    allows a test with false-positive rate ``a`` and false-negative rate ``b``.
    It is ``inf`` when a rate is 0 and the other is below ``1 - delta``.
    """
    delta = _check_probability("delta", delta)
    a, b = float(false_positive_rate), float(false_negative_rate)
    if not (0.0 <= a <= 1.0 and 0.0 <= b <= 1.0):
        raise ValueError(f"rates a={a!r}, b={b!r} are invalid: give probabilities in [0, 1].")
    return max(0.0, _log_ratio(1.0 - delta - a, b), _log_ratio(1.0 - delta - b, a))


def max_certifiable_epsilon(trials: int, delta: float, confidence: float) -> float:
    """Return the largest epsilon lower bound that ``trials`` runs per dataset can give.

    It is the bound for a perfect test (no false positive, no false negative),
    about ``ln(trials / ln(2 / (1 - c)))``: an audit with few trials cannot
    certify a large epsilon however leaky the mechanism is.
    """
    bound = clopper_pearson_upper(0, trials, per_rate_confidence(confidence))
    return epsilon_from_rates(bound, bound, delta)


def gaussian_dp_mu(false_positive_rate: float, false_negative_rate: float) -> float:
    """Return ``max(0, Phi^-1(1 - a) - Phi^-1(b))``: the mu of the GDP curve through (a, b).

    It is 0 when ``a + b >= 1`` (the test does no better than chance) and
    ``inf`` when a rate is 0 and the other is not. Under the mu-GDP assumption,
    the mechanism's mu is at least this value when ``a`` and ``b`` are upper
    bounds on the rates.
    """
    a, b = float(false_positive_rate), float(false_negative_rate)
    if not (0.0 <= a <= 1.0 and 0.0 <= b <= 1.0):
        raise ValueError(f"rates a={a!r}, b={b!r} are invalid: give probabilities in [0, 1].")
    if a + b >= 1.0:
        return 0.0
    if a == 0.0 or b == 0.0:
        return math.inf
    return max(0.0, float(stats.norm.isf(a) - stats.norm.ppf(b)))


def gaussian_dp_epsilon(mu: float, delta: float) -> float:
    """Return the epsilon at ``delta`` of a mu-GDP mechanism, the lower end of its bracket.

    A mu-GDP mechanism has the privacy profile of one Gaussian step with noise
    multiplier ``1 / mu``, so this is the accountant's analytic Gaussian epsilon.
    """
    from ..accounting import epsilon

    delta = _check_probability("delta", delta)
    if math.isnan(mu) or mu < 0:
        raise ValueError(f"mu={mu!r} is invalid: give a number, 0 or more.")
    if mu == 0.0:
        return 0.0
    if math.isinf(mu):
        return math.inf
    return epsilon("gaussian", 1.0 / mu, 1.0, 1, delta).lower


def threshold_error_counts(scores_without: np.ndarray, scores_with: np.ndarray, max_score: int) -> tuple[np.ndarray, np.ndarray]:
    """Count each threshold's errors for the test "canary present when score >= t".

    Returns
    -------
    false_positives, false_negatives : numpy.ndarray
        Integer arrays of length ``max_score + 2``, indexed by the threshold
        ``t = 0 .. max_score + 1``: the runs without the canary that score at
        least ``t``, and the runs with it that score below ``t``.
    """
    without = np.bincount(np.asarray(scores_without, dtype=np.int64), minlength=max_score + 1)
    with_canary = np.bincount(np.asarray(scores_with, dtype=np.int64), minlength=max_score + 1)
    if without.size > max_score + 1 or with_canary.size > max_score + 1:
        raise ValueError(f"a score exceeds max_score={max_score}: pass the largest possible score.")
    false_positives = np.concatenate([np.cumsum(without[::-1])[::-1], [0]])
    false_negatives = np.concatenate([[0], np.cumsum(with_canary)])
    return false_positives, false_negatives


def select_threshold(
    scores_without: np.ndarray,
    scores_with: np.ndarray,
    max_score: int,
    estimation_trials: int,
    delta: float,
    confidence: float,
) -> int:
    """Choose the threshold whose rates would give the largest bound on the estimation runs.

    The runs passed here must not be the runs the bound is computed on: a
    threshold chosen on the same runs would overfit their noise and void the
    confidence level. Each threshold's rates on these runs are projected onto
    ``estimation_trials`` runs per dataset and turned into the epsilon bound those
    runs would give. The smallest threshold with the largest bound wins.
    """
    false_positives, false_negatives = threshold_error_counts(scores_without, scores_with, max_score)
    runs_without, runs_with = len(scores_without), len(scores_with)
    if runs_without == 0 or runs_with == 0:
        raise ValueError("threshold selection needs at least one run with and one without the canary.")
    level = per_rate_confidence(confidence)
    best, best_bound = 0, -1.0
    for threshold in range(max_score + 2):
        projected_fp = round(false_positives[threshold] / runs_without * estimation_trials)
        projected_fn = round(false_negatives[threshold] / runs_with * estimation_trials)
        bound = epsilon_from_rates(
            clopper_pearson_upper(projected_fp, estimation_trials, level),
            clopper_pearson_upper(projected_fn, estimation_trials, level),
            delta,
        )
        if bound > best_bound:
            best, best_bound = threshold, bound
    return best
