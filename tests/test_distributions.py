"""Tests of the token universe, per-split restriction and the merge."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpsynth.distributions import LOGPROB_SENTINEL, merge, split_distribution, token_universe


def test_universe_orders_by_probability_then_token():
    universe = token_universe({" b": math.log(0.2), " a": math.log(0.2), " c": math.log(0.5)})
    assert universe.tokens == (" c", " a", " b")
    np.testing.assert_allclose(universe.public, [0.5 / 0.9, 0.2 / 0.9, 0.2 / 0.9])


def test_universe_drops_sentinel():
    universe = token_universe({" a": math.log(0.3), " b": LOGPROB_SENTINEL})
    assert universe.tokens == (" a",)
    np.testing.assert_allclose(universe.public, [1.0])


def test_universe_without_candidates_raises():
    with pytest.raises(ValueError, match="none with a positive probability"):
        token_universe({" a": LOGPROB_SENTINEL})


def test_split_restricted_and_renormalised():
    universe = token_universe({" a": math.log(0.5), " b": math.log(0.3), " c": math.log(0.1)})
    vector, fallback = split_distribution({" b": math.log(0.2), " z": math.log(0.7), " a": math.log(0.1)}, universe)
    assert not fallback
    np.testing.assert_allclose(vector, [0.1 / 0.3, 0.2 / 0.3, 0.0])


def test_split_without_universe_token_falls_back_to_public():
    universe = token_universe({" a": math.log(0.6), " b": math.log(0.2)})
    vector, fallback = split_distribution({" z": math.log(0.9)}, universe)
    assert fallback
    np.testing.assert_allclose(vector, universe.public)


def test_merge_is_the_mean():
    np.testing.assert_allclose(merge([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]), [0.5, 0.5])


def test_merge_rejects_empty():
    with pytest.raises(ValueError, match="shape"):
        merge(np.zeros((0, 3)))


probability_vectors = st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5).filter(lambda v: sum(v) > 1e-6)


@settings(max_examples=200, deadline=None)
@given(
    splits=st.lists(probability_vectors, min_size=1, max_size=12),
    replacement=probability_vectors,
    index=st.integers(0, 11),
)
def test_one_split_moves_merge_by_at_most_sqrt2_over_m(splits, replacement, index):
    vectors = np.array([np.array(v) / sum(v) for v in splits])
    index %= len(vectors)
    neighbour = vectors.copy()
    neighbour[index] = np.array(replacement) / sum(replacement)
    distance = np.linalg.norm(merge(vectors) - merge(neighbour))
    assert distance <= math.sqrt(2) / len(vectors) + 1e-12


def test_sensitivity_bound_is_attained():
    # Two splits, one moving all its mass from one token to another: the bound is tight.
    before = merge([[1.0, 0.0], [1.0, 0.0]])
    after = merge([[1.0, 0.0], [0.0, 1.0]])
    assert np.linalg.norm(before - after) == pytest.approx(math.sqrt(2) / 2)


@pytest.mark.parametrize("logprob", [math.inf, math.nan, 0.5])
def test_invalid_logprob_raises(logprob):
    with pytest.raises(ValueError, match="malformed response"):
        token_universe({" a": logprob, " b": math.log(0.5)})


def test_log_one_rounded_up_is_accepted():
    universe = token_universe({" a": 1e-9})
    np.testing.assert_allclose(universe.public, [1.0])
