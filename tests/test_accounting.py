"""Tests of dpsynth.accounting against closed forms and the bounds that cannot be wrong.

Exact values below were computed with 60-digit arithmetic from closed forms:
the analytic Gaussian mechanism (Balle and Wang 2018) for the Gaussian without
subsampling, and the binomial privacy profile of composed randomized response
(Kairouz, Oh and Viswanath 2015) for the subsampled pure-DP step.
"""

from __future__ import annotations

import math
import warnings

import pytest

from dpsynth.accounting import (
    AccountingError,
    EpsilonBounds,
    Mechanism,
    Neighbouring,
    PrivacyAssumptions,
    PrivacyWarning,
    SamplingScheme,
    account_run,
    calibrate,
    default_delta,
    epsilon,
    max_compositions,
    sample_rate,
)

# (sigma, compositions, delta, exact epsilon): Gaussian, q = 1.
EXACT_GAUSSIAN = [
    (0.5, 1, 1e-05, 9.997256146438303),
    (0.5, 1, 1e-06, 10.997151214221958),
    (0.5, 20, 1e-05, 77.33009057916934),
    (0.5, 20, 1e-06, 81.71523337054532),
    (0.5, 100, 1e-05, 284.39184949779883),
]

# (eps0, q, compositions, delta, exact epsilon): subsampled pure-DP step.
EXACT_PURE_DP = [
    (1.0, 1.0, 100, 1e-05, 79.84),
]


@pytest.mark.parametrize(("sigma", "count", "delta", "exact"), EXACT_GAUSSIAN)
def test_gaussian_without_subsampling_is_exact(sigma, count, delta, exact):
    bounds = epsilon("gaussian", sigma, 1.0, count, delta)
    assert bounds.lower <= exact * (1 + 1e-9)
    assert bounds.upper >= exact * (1 - 1e-9)
    assert bounds.estimate == pytest.approx(exact, rel=1e-8)


def test_pure_dp_where_prv_is_wrong():
    # prv-accountant 0.2.0 returns about 13.04 here; basic composition gives 1000.
    bounds = epsilon("exponential", 1.0, 1.0, 1000, 1e-6)
    assert bounds.estimate == pytest.approx(591.1, abs=0.1)
    assert bounds.upper <= 1000


def test_paper_agnews_setting():
    bounds = epsilon("gaussian", 0.39, sample_rate(10, 2, 30000), 100, 1 / 30000)
    assert bounds.estimate == pytest.approx(3.815, abs=0.01)


def test_zero_compositions_cost_nothing():
    bounds = epsilon("gaussian", 1.0, 0.1, 0, 1e-6)
    assert (bounds.lower, bounds.estimate, bounds.upper) == (0.0, 0.0, 0.0)


def test_calibration_meets_target():
    result = calibrate("gaussian", 4.0, sample_rate(10, 2, 30000), 100, 1 / 30000)
    assert result.epsilon.upper <= 4.0
    assert result.epsilon.upper >= 3.99


def test_sample_rate_rejects_small_pool():
    with pytest.raises(ValueError, match="n=10"):
        sample_rate(10, 2, 10)


def test_delta_at_one_over_n_warns():
    with pytest.warns(PrivacyWarning, match="1/n"):
        account_run("exponential", 1.0, {"a": 100}, {"a": 10}, 2, 2, 0.01)


def test_default_delta_is_below_one_over_n():
    for n in (1, 200, 30000, 10**6):
        assert default_delta(n) <= 1 / (100 * n)
