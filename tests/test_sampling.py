"""Tests of Poisson and fixed-size sampling against their definitions."""

import numpy as np
import pytest
from scipy import stats

from dpsynth.sampling import draw_splits, fixed_size_splits, poisson_splits, validate_split_shape


def _assert_disjoint(splits, pool_size):
    members = np.concatenate(splits)
    assert members.size == np.unique(members).size
    assert members.size == 0 or (members.min() >= 0 and members.max() < pool_size)


def test_fixed_size_splits_are_disjoint_and_full():
    rng = np.random.default_rng(0)
    splits = fixed_size_splits(50, 5, 3, rng)
    assert [split.size for split in splits] == [3] * 5
    _assert_disjoint(splits, 50)


def test_poisson_splits_are_disjoint_and_capped():
    rng = np.random.default_rng(1)
    for _ in range(200):
        splits = poisson_splits(40, 4, 2, rng)
        assert len(splits) == 4
        assert all(split.size <= 2 for split in splits)
        _assert_disjoint(splits, 40)


def test_poisson_inclusion_rate_matches_q():
    # At q = 0.05 the mean group size is 25, far below the cap of 50, so the
    # number of records drawn is Binomial(n * trials, q).
    rng = np.random.default_rng(2)
    pool_size, num_splits, shots, trials, rate = 1000, 2, 50, 400, 0.05
    total = 0
    for _ in range(trials):
        total += sum(split.size for split in poisson_splits(pool_size, num_splits, shots, rng, rate=rate))
    low, high = stats.binom.interval(0.999, pool_size * trials, rate)
    assert low <= total <= high


def test_poisson_groups_are_uniform():
    rng = np.random.default_rng(3)
    sizes = np.zeros(5)
    for _ in range(2000):
        sizes += [split.size for split in poisson_splits(100, 5, 100 // 5, rng)]
    _, p_value = stats.chisquare(sizes)
    assert p_value > 0.001


def test_removing_a_record_changes_at_most_one_group():
    # Same generator state and the same public rate q: removing the last record
    # may change only the group it was assigned to.
    rate = 0.4
    changed_any = 0
    for seed in range(300):
        full = poisson_splits(30, 5, 2, np.random.default_rng(seed), rate=rate)
        neighbour = poisson_splits(29, 5, 2, np.random.default_rng(seed), rate=rate)
        changed = [not np.array_equal(a, b) for a, b in zip(full, neighbour)]
        assert sum(changed) <= 1
        changed_any += any(changed)
    # The property is not vacuous: the removed record was in a group in many trials.
    assert changed_any > 50


@pytest.mark.parametrize("scheme", ["poisson", "fixed_size"])
def test_draw_splits_dispatches(scheme):
    splits = draw_splits(scheme, 20, 2, 2, np.random.default_rng(4))
    assert len(splits) == 2


def test_validate_split_shape_names_counts():
    with pytest.raises(ValueError, match=r"has 7 record\(s\) but 4 splits x 2 shots need at least 8"):
        validate_split_shape(7, 4, 2)


@pytest.mark.parametrize("name, value", [("num_splits", 0), ("shots", -1), ("num_splits", 1.5)])
def test_validate_split_shape_rejects_bad_counts(name, value):
    arguments = {"num_splits": 2, "shots": 2}
    arguments[name] = value
    with pytest.raises(ValueError, match=name):
        validate_split_shape(10, **arguments)
