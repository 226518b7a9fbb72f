"""Sampling: which private records go into which split at one token step.

Two schemes draw ``M`` disjoint groups (splits) of at most ``N`` records from the
``n`` records of one label:

``poisson`` (the default)
    Each record joins the sample independently with probability ``q = M * N / n``
    and then one of the ``M`` groups uniformly at random. A group that receives
    more than ``N`` records keeps a uniformly random ``N`` of them. Adding or
    removing one record changes at most one group, and each token step is then
    exactly the Poisson-subsampled mechanism that the accountant composes.
    Groups may hold fewer than ``N`` records, or none.

``fixed_size`` (for comparison with the published method)
    Shuffle the records, take the first ``M * N`` and deal them round-robin into
    ``M`` groups of exactly ``N``. This is what the published code does. Its
    accounting with the Poisson accountant is an approximation, because sampling
    without replacement is not Poisson sampling.

Both schemes draw a fresh sample at every token step.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

__all__ = [
    "SamplingScheme",
    "draw_splits",
    "fixed_size_splits",
    "poisson_splits",
    "validate_split_shape",
]


class SamplingScheme(str, Enum):
    """How the private records of one token step are drawn.

    ``POISSON``: each record joins independently with probability q, which is
    what the accountant assumes. ``FIXED_SIZE``: exactly M*N records without
    replacement, which the Poisson accountant only approximates.
    """

    POISSON = "poisson"
    FIXED_SIZE = "fixed_size"


def validate_split_shape(pool_size: int, num_splits: int, shots: int) -> None:
    """Raise ValueError unless ``pool_size`` records can fill ``num_splits`` groups of ``shots``.

    Both schemes need ``M * N <= n``: the fixed-size scheme draws ``M * N`` distinct
    records, and the Poisson rate ``q = M * N / n`` must not exceed 1.
    """
    for name, value in (("num_splits", num_splits), ("shots", shots)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name}={value!r} is invalid: give a whole number, 1 or more.")
    needed = num_splits * shots
    if pool_size < needed:
        raise ValueError(
            f"the label has {pool_size} record(s) but {num_splits} splits x {shots} shots "
            f"need at least {needed}: lower --num-splits or --shots, or add records."
        )


def poisson_splits(
    pool_size: int,
    num_splits: int,
    shots: int,
    rng: np.random.Generator,
    rate: float | None = None,
) -> list[np.ndarray]:
    """Draw ``num_splits`` disjoint groups by Poisson sampling with rate ``M * N / n``.

    Each record ``i`` gets its own row of three uniform draws: inclusion
    (``u_i < q``), group (``floor(v_i * M)``) and priority (a full group keeps its
    ``N`` records of lowest priority). Rows are drawn in record order, so the
    records before a removed or appended record keep their draws. This makes
    the neighbouring-dataset property easy to test: with the same generator state,
    only the group of the changed record can differ.

    Parameters
    ----------
    rate
        The inclusion probability ``q``; ``M * N / pool_size`` by default. The
        accountant treats ``q`` as public and fixed, so a neighbouring dataset is
        sampled at the same ``q``.

    Returns
    -------
    list of numpy.ndarray
        One array of record indices (into the label's pool) per group, each of
        length at most ``shots``, possibly empty, in increasing index order.
    """
    validate_split_shape(pool_size, num_splits, shots)
    if rate is None:
        rate = num_splits * shots / pool_size
    elif not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate={rate!r} is invalid: give a probability in [0, 1].")
    draws = rng.random((pool_size, 3))
    included = draws[:, 0] < rate
    groups = np.minimum((draws[:, 1] * num_splits).astype(np.int64), num_splits - 1)
    splits = []
    for group in range(num_splits):
        members = np.flatnonzero(included & (groups == group))
        if members.size > shots:
            keep = np.argsort(draws[members, 2], kind="stable")[:shots]
            members = np.sort(members[keep])
        splits.append(members)
    return splits


def fixed_size_splits(
    pool_size: int, num_splits: int, shots: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Draw ``M * N`` records without replacement and deal them round-robin into ``M`` groups."""
    validate_split_shape(pool_size, num_splits, shots)
    chosen = rng.permutation(pool_size)[: num_splits * shots]
    return [chosen[group::num_splits] for group in range(num_splits)]


def draw_splits(
    scheme: SamplingScheme | str,
    pool_size: int,
    num_splits: int,
    shots: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Draw the groups of one token step with the named scheme."""
    scheme = SamplingScheme(scheme)
    if scheme is SamplingScheme.POISSON:
        return poisson_splits(pool_size, num_splits, shots, rng)
    return fixed_size_splits(pool_size, num_splits, shots, rng)
