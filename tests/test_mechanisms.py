"""Tests of the noisy argmax mechanisms against their distributions."""

import math

import numpy as np
import pytest
from scipy import stats

from dpsynth.mechanisms import (
    exponential_noisy_argmax,
    gaussian_noise,
    gaussian_noise_std,
    gaussian_noisy_argmax,
    is_stop_token,
    selection_probabilities_exponential,
)


def test_noise_std_formula():
    assert gaussian_noise_std(0.5, 10) == pytest.approx(0.5 * math.sqrt(2) / 10)


def test_noise_has_stated_std():
    # The sample variance of n normal draws satisfies (n-1) s^2 / std^2 ~ chi2(n-1).
    rng = np.random.default_rng(0)
    sigma, num_splits, count = 0.8, 4, 200_000
    draws = gaussian_noise(count, sigma, num_splits, rng)
    std = sigma * math.sqrt(2) / num_splits
    statistic = (count - 1) * draws.var(ddof=1) / std**2
    low, high = stats.chi2.interval(0.999, count - 1)
    assert low <= statistic <= high
    assert abs(draws.mean()) < 5 * std / math.sqrt(count)


def test_gaussian_selection_matches_normal_cdf():
    # With two tokens, token 0 wins when p0 - p1 + Z0 - Z1 > 0, and Z0 - Z1 ~ N(0, 2 s^2).
    rng = np.random.default_rng(1)
    merged = np.array([0.6, 0.4])
    sigma, num_splits, trials = 1.0, 5, 100_000
    selected = gaussian_noisy_argmax(np.tile(merged, (trials, 1)), sigma, num_splits, rng)
    std = gaussian_noise_std(sigma, num_splits)
    expected = stats.norm.cdf((merged[0] - merged[1]) / (std * math.sqrt(2)))
    low, high = stats.binom.interval(0.999, trials, expected)
    assert low <= np.sum(selected == 0) <= high


def test_exponential_frequencies_match_softmax():
    rng = np.random.default_rng(2)
    merged = np.array([0.5, 0.3, 0.15, 0.05])
    epsilon_per_token, num_splits, trials = 2.0, 5, 100_000
    selected = exponential_noisy_argmax(np.tile(merged, (trials, 1)), epsilon_per_token, num_splits, rng)
    observed = np.bincount(selected, minlength=merged.size)
    expected = selection_probabilities_exponential(merged, epsilon_per_token, num_splits) * trials
    _, p_value = stats.chisquare(observed, expected)
    assert p_value > 0.001


def test_exponential_probabilities_are_softmax():
    merged = np.array([0.7, 0.2, 0.1])
    scores = 1.5 * 4 / 2 * merged
    softmax = np.exp(scores) / np.exp(scores).sum()
    np.testing.assert_allclose(selection_probabilities_exponential(merged, 1.5, 4), softmax)


def test_exponential_ratio_bounded_by_eps0():
    # One record moves each coordinate of p by at most 1/M, so every selection
    # probability changes by a factor of at most exp(eps0).
    rng = np.random.default_rng(3)
    epsilon_per_token, num_splits = 1.0, 4
    for _ in range(500):
        splits = rng.dirichlet(np.ones(6), size=num_splits)
        neighbour = splits.copy()
        neighbour[0] = rng.dirichlet(np.ones(6))
        p = selection_probabilities_exponential(splits.mean(0), epsilon_per_token, num_splits)
        q = selection_probabilities_exponential(neighbour.mean(0), epsilon_per_token, num_splits)
        assert np.max(np.abs(np.log(p / q))) <= epsilon_per_token + 1e-12


def test_scalar_input_gives_int():
    rng = np.random.default_rng(4)
    assert isinstance(gaussian_noisy_argmax(np.array([0.9, 0.1]), 0.1, 2, rng), int)
    assert isinstance(exponential_noisy_argmax(np.array([0.9, 0.1]), 1.0, 2, rng), int)


@pytest.mark.parametrize("sigma", [0.0, -1.0, math.inf, math.nan])
def test_gaussian_rejects_bad_sigma(sigma):
    with pytest.raises(ValueError, match="sigma"):
        gaussian_noise_std(sigma, 3)


def test_rejects_bad_num_splits():
    with pytest.raises(ValueError, match="num_splits=0"):
        gaussian_noise_std(1.0, 0)


def test_empty_universe_raises():
    with pytest.raises(ValueError, match="empty"):
        gaussian_noisy_argmax(np.array([]), 1.0, 2, np.random.default_rng(0))


@pytest.mark.parametrize("token, stops", [("\n", True), (" END", True), ("<|endoftext|>", True), ("\n\n", True), (" end", False), (" fever", False)])
def test_stop_tokens(token, stops):
    assert is_stop_token(token) is stops
