"""Tests of dpsynth.accounting at extreme noise, sampling rates and targets.

The reference profiles are textbook closed forms evaluated with mpmath at 80
digits. One is the analytic Gaussian mechanism (Balle and Wang 2018). The other
is the hockey-stick divergence of one Poisson-subsampled Gaussian step in each
direction of add/remove, written through the output x where the privacy loss
equals epsilon.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpsynth.accounting import (
    AccountingError,
    PrivacyAssumptions,
    account_run,
    calibrate,
    calibrate_run,
    epsilon,
    max_compositions,
)
from dpsynth.accounting import gaussian

mpmath.mp.dps = 80


def reference_gaussian_delta(s, eps):
    """delta(eps) of one Gaussian step with noise multiplier s: Phi(1/(2s) - eps s) - e^eps Phi(-1/(2s) - eps s)."""
    s, eps = mpmath.mpf(s), mpmath.mpf(eps)
    return mpmath.ncdf(1 / (2 * s) - eps * s) - mpmath.exp(eps) * mpmath.ncdf(-1 / (2 * s) - eps * s)


def reference_subsampled_delta(s, q, eps):
    """delta(eps) of one Poisson-subsampled Gaussian step, the larger of remove and add."""
    s, q, eps = mpmath.mpf(s), mpmath.mpf(q), mpmath.mpf(eps)
    # Remove: (1-q) N(0, s^2) + q N(1, s^2) against N(0, s^2); the loss exceeds eps above x.
    x = s**2 * mpmath.log((mpmath.exp(eps) - 1 + q) / q) + mpmath.mpf(1) / 2
    remove = q * mpmath.ncdf((1 - x) / s) - (mpmath.exp(eps) - 1 + q) * mpmath.ncdf(-x / s)
    # Add: N(0, s^2) against the mixture; the loss exceeds eps below x, and never exceeds -log(1-q).
    if q >= 1 or eps >= -mpmath.log(1 - q):
        return remove
    x = s**2 * mpmath.log((mpmath.exp(-eps) - 1 + q) / q) + mpmath.mpf(1) / 2
    add = mpmath.ncdf(x / s) - mpmath.exp(eps) * ((1 - q) * mpmath.ncdf(x / s) + q * mpmath.ncdf((x - 1) / s))
    return max(remove, add)


def assert_brackets_root(profile, bounds, delta):
    """Check that the reference profile is at most delta at ``upper`` and above it at ``lower`` > 0."""
    assert profile(bounds.upper) <= delta
    if bounds.lower > 0:
        assert profile(bounds.lower) > delta


@pytest.mark.parametrize(("sigma", "q"), [(1e-6, 0.01), (1e-3, 0.01), (1e-3, 1e-4), (0.05, 0.5), (1e3, 0.3)])
def test_one_step_extreme_sigma(sigma, q):
    bounds = epsilon("gaussian", sigma, q, 1, 1e-6)
    assert bounds.method == "exact-one-step"
    assert_brackets_root(lambda eps: reference_subsampled_delta(sigma, q, eps), bounds, 1e-6)


@pytest.mark.parametrize(("sigma", "count"), [(1e-6, 1), (1e-6, 100), (1e-3, 1000), (1e-100, 1), (1e5, 10)])
def test_analytic_gaussian_extreme_sigma(sigma, count):
    bounds = epsilon("gaussian", sigma, 1.0, count, 1e-6)
    effective = sigma / math.sqrt(count)
    assert bounds.method == "analytic-gaussian"
    assert_brackets_root(lambda eps: reference_gaussian_delta(effective, eps), bounds, 1e-6)


def test_tiny_sigma_many_steps_is_finite():
    # The setting of `dpsynth epsilon --sigma 1e-3 --sample-rate 0.01 --compositions 100 --delta 1e-6`.
    bounds = epsilon("gaussian", 1e-3, 0.01, 100, 1e-6)
    one_step = epsilon("gaussian", 1e-3, 0.01, 1, 1e-6)
    assert math.isfinite(bounds.upper)
    assert bounds.lower >= one_step.lower
    # Without subsampling, 100 steps at sigma 1e-3 are one step at 1e-4: epsilon about 1/(2 * 1e-8).
    assert bounds.upper <= epsilon("gaussian", 1e-3, 1.0, 100, 1e-6).upper
    assert bounds.upper > 5e5


def test_huge_sigma_costs_nothing():
    for q in (0.01, 1.0):
        bounds = epsilon("gaussian", 1e300, q, 100, 1e-6)
        assert bounds.upper == 0.0


def test_epsilon_overflow_raises():
    for q in (0.01, 1.0):
        with pytest.raises(AccountingError, match=r"sigma=1e-300 .*raise sigma"):
            epsilon("gaussian", 1e-300, q, 100, 1e-6)


def test_rare_participation_is_free():
    # A record that joins any of the 1,000 steps with probability 1e-6 changes the output
    # with at most that probability, so epsilon is 0 at delta 1e-6 however small sigma is.
    bounds = epsilon("gaussian", 1e-300, 1e-9, 1000, 1e-6)
    assert bounds.upper == 0.0
    assert bounds.method == "participation-bound"
    assert epsilon("gaussian", 1e-300, 1e-9, 1001, 2e-6).upper == 0.0


@pytest.mark.parametrize("target", [1e6, 1e9])
def test_calibrate_huge_target(target):
    result = calibrate("gaussian", target, 0.01, 100, 1e-6)
    assert result.epsilon.upper <= target
    assert result.epsilon.upper >= target * (1 - 1e-4)


def test_calibrate_absurd_target():
    # Epsilon 1e300 needs sigma below 1e-150, outside the search range.
    with pytest.raises(ValueError, match=re.escape("target_epsilon=1e+300 is met even at sigma=4.25e-18")):
        calibrate("gaussian", 1e300, 0.01, 100, 1e-6)


def test_calibrate_unreachable_target():
    # One step at delta 1e-20 costs epsilon 0 only where q * 2 Phi(1/(2 sigma)) - q <= 1e-20,
    # that is sigma above about 4e17, beyond the search range's end of e^40 = 2.35e17.
    with pytest.raises(ValueError, match=re.escape("target_epsilon=1e-30 is not met even at sigma=2.35e+17")):
        calibrate("gaussian", 1e-30, 0.01, 1, 1e-20)


def test_max_compositions_extreme_sigma():
    assert max_compositions("gaussian", 1e300, 0.01, 1.0, 1e-6, limit=1000) == 1000
    assert max_compositions("gaussian", 1e-6, 0.01, 1.0, 1e-6) == 0
    with pytest.raises(AccountingError, match="sigma=1e-300"):
        max_compositions("gaussian", 1e-300, 0.01, 1.0, 1e-6)


# Three labels of 55 records, as in the bundled demo, at 5 splits of 1 shot and 200 tokens per example.
DEMO_POOLS = {"a": 55, "b": 55, "c": 55}
DEMO_COMPOSITIONS = {"a": 2000, "b": 2000, "c": 2000}


@pytest.mark.parametrize("sigma", [1e-6, 1e6])
def test_run_extreme_sigma(sigma):
    account = account_run("gaussian", sigma, DEMO_POOLS, DEMO_COMPOSITIONS, 5, 1, 1e-5)
    assert math.isfinite(account.dataset.upper)
    assert account.dataset.lower <= account.dataset.upper


def test_replace_one_overflow_raises():
    replace = PrivacyAssumptions(neighbouring="replace_one")
    with pytest.raises(AccountingError, match="replace-one"):
        account_run("gaussian", 1e-3, DEMO_POOLS, DEMO_COMPOSITIONS, 5, 1, 1e-5, replace)


def test_calibrate_run_past_overflow():
    # Below some sigma the replace-one account raises; calibration treats that side as above the target.
    replace = PrivacyAssumptions(neighbouring="replace_one")
    compositions = {"a": 100, "b": 100, "c": 100}
    result = calibrate_run("gaussian", 1e4, DEMO_POOLS, compositions, 5, 1, 1e-5, replace)
    assert result.epsilon.upper <= 1e4
    with pytest.raises(AccountingError):
        account_run("gaussian", result.noise * 0.99, DEMO_POOLS, compositions, 5, 1, 1e-5, replace)


def test_huge_sigma_tiny_delta_is_positive():
    # One step at sigma 1e16 has delta(0) = 2 Phi(5e-17) - 1, about 4e-17, above delta 1e-20, so epsilon > 0,
    # although Phi(5e-17) and Phi(-5e-17) round to the same double.
    bounds = epsilon("gaussian", 1e16, 1.0, 1, 1e-20)
    assert bounds.upper > 0
    assert reference_gaussian_delta(1e16, bounds.upper) <= 1e-20


@pytest.mark.parametrize("x", [-1e6, -300.0, -40.0, -5.0, -1.0, -1e-10, 0.0, 1e-10, 0.5, 3.0, 10.0])
def test_scaled_normal_cdf_matches_mpmath(x):
    reference = mpmath.log(mpmath.ncdf(x)) + mpmath.mpf(x) ** 2 / 2
    assert gaussian._log_scaled_ndtr(x) == pytest.approx(float(reference), rel=1e-13, abs=1e-13)


def test_gaussian_grid_bounds_finite():
    grid = itertools.product([1e-6, 1e-3, 0.02, 0.5, 3.0, 1e3, 1e6], [1e-9, 1e-4, 0.05, 1.0], [1, 10, 1000, 10**6])
    for sigma, q, count in grid:
        bounds = epsilon("gaussian", sigma, q, count, 1e-6)
        assert 0.0 <= bounds.lower <= bounds.estimate <= bounds.upper, (sigma, q, count)
        assert math.isfinite(bounds.upper), (sigma, q, count)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    log_sigma=st.floats(-6, 6),
    log_q=st.floats(-9, 0),
    count=st.integers(0, 10**6),
    log_delta=st.floats(-12, -1),
)
def test_gaussian_bounds_always_ordered(log_sigma, log_q, count, log_delta):
    sigma, q, delta = 10.0**log_sigma, 10.0**log_q, 10.0**log_delta
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            bounds = epsilon("gaussian", sigma, q, count, delta)
        except AccountingError:
            return
    assert 0.0 <= bounds.lower <= bounds.estimate <= bounds.upper
    assert math.isfinite(bounds.upper)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(log_noise=st.floats(-6, 6), log_q=st.floats(-9, 0), count=st.integers(0, 10**6), log_delta=st.floats(-12, -1))
def test_exponential_bounds_always_ordered(log_noise, log_q, count, log_delta):
    bounds = epsilon("exponential", 10.0**log_noise, 10.0**log_q, count, 10.0**log_delta)
    assert 0.0 <= bounds.lower <= bounds.estimate <= bounds.upper
    assert math.isfinite(bounds.upper)
