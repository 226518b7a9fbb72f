"""Cross-checks of dpsynth.accounting against Google's dp_accounting, and properties from the theory.

dp_accounting's PLD accountant with pessimistic discretisation never reports
less than the true epsilon. With a value discretisation interval of 1e-3 it is
at most a few 1e-4 (relative) above it on this grid.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpsynth.accounting import epsilon

dp_accounting = pytest.importorskip("dp_accounting")
from dp_accounting import dp_event  # noqa: E402
from dp_accounting.pld import pld_privacy_accountant  # noqa: E402

GRID = list(itertools.product([0.6, 1.5], [0.02, 0.2], [10, 300], [1e-5, 1e-8]))


def google_pld_epsilon(sigma: float, q: float, count: int, delta: float) -> float:
    accountant = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-3)
    accountant.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), count)
    return accountant.get_epsilon(delta)


@pytest.mark.parametrize(("sigma", "q", "count", "delta"), GRID)
def test_gaussian_matches_google_pld(sigma, q, count, delta):
    reference = google_pld_epsilon(sigma, q, count, delta)
    bounds = epsilon("gaussian", sigma, q, count, delta)
    # Stated error: the estimate lies within 1e-3 relative (plus 1e-4) of the pessimistic reference.
    assert bounds.estimate == pytest.approx(reference, rel=1e-3, abs=1e-4)
    # The reference is never below the truth, so it is never below a valid lower bound.
    assert bounds.lower <= reference


sigmas = st.floats(min_value=0.4, max_value=3.0)
rates = st.sampled_from([0.001, 0.01, 0.1])
counts = st.integers(min_value=1, max_value=2000)


@settings(max_examples=15, deadline=None)
@given(sigma=sigmas, q=rates, count=counts)
def test_gaussian_decreases_with_sigma(sigma, q, count):
    less_noise = epsilon("gaussian", sigma, q, count, 1e-6)
    more_noise = epsilon("gaussian", sigma * 1.1, q, count, 1e-6)
    assert more_noise.estimate <= less_noise.estimate
    assert more_noise.lower <= less_noise.upper


@settings(max_examples=15, deadline=None)
@given(sigma=sigmas, q=rates, count=counts)
def test_gaussian_grows_with_compositions(sigma, q, count):
    fewer = epsilon("gaussian", sigma, q, count, 1e-6)
    more = epsilon("gaussian", sigma, q, count * 2, 1e-6)
    assert more.estimate >= fewer.estimate
    assert fewer.lower <= more.upper


@settings(max_examples=30, deadline=None)
@given(
    eps0=st.floats(min_value=0.01, max_value=5.0),
    q=st.floats(min_value=0.001, max_value=1.0),
    count=st.integers(min_value=1, max_value=5000),
)
def test_exponential_monotone_and_bounded(eps0, q, count):
    first = epsilon("exponential", eps0, q, count, 1e-7)
    more_steps = epsilon("exponential", eps0, q, count + 1, 1e-7)
    more_epsilon = epsilon("exponential", eps0 * 1.05, q, count, 1e-7)
    assert more_steps.estimate >= first.estimate
    assert more_epsilon.estimate >= first.estimate
    assert first.lower <= first.estimate <= first.upper
