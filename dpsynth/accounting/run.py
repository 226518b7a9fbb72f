"""Accounting of a whole run: per-label epsilon and the dataset's epsilon."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .accountant import epsilon, validate_inputs
from .types import AccountingError, EpsilonBounds, Mechanism, Neighbouring, PrivacyAssumptions, PrivacyWarning, SamplingScheme

__all__ = ["LabelAccount", "PrivacyAccount", "account_run", "default_delta", "sample_rate"]

logger = logging.getLogger("dpsynth")


def sample_rate(num_splits: int, shots: int, pool_size: int) -> float:
    """Return the Poisson sampling rate q = M*N/n of one token step.

    Parameters
    ----------
    num_splits : int
        M, the number of disjoint splits (few-shot prompts) per step.
    shots : int
        N, the expected number of examples per split.
    pool_size : int
        n, the number of private records of the label.

    Raises
    ------
    ValueError
        If an argument is not a positive integer, or if q > 1 (the pool has
        fewer than M*N records).
    """
    for name, value in (("num_splits", num_splits), ("shots", shots), ("pool_size", pool_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} is invalid: give a whole number, 1 or more.")
    needed = num_splits * shots
    if needed > pool_size:
        raise ValueError(
            f"a pool of n={pool_size} records is too small for M={num_splits} splits of N={shots} shots: "
            f"it needs at least M*N={needed} records; lower num_splits or shots, or add records."
        )
    return needed / pool_size


def default_delta(n_records: int) -> float:
    """Return the default delta for a dataset of ``n_records`` records.

    The largest power of ten at or below 1/(100 n). A mechanism that publishes
    each record with probability delta is (0, delta)-DP; at this delta it
    publishes one of the n records with probability at most n * delta = 1%.
    For the 385 records of the bundled demo this gives 1e-5; for n = 30,000 it gives 1e-7.
    """
    if isinstance(n_records, bool) or not isinstance(n_records, int) or n_records < 1:
        raise ValueError(f"n_records={n_records!r} is invalid: give the number of private records, 1 or more.")
    return 10.0 ** math.floor(math.log10(1.0 / (100 * n_records)) + 1e-12)


@dataclass(frozen=True)
class LabelAccount:
    """The privacy cost of one label's generations.

    Attributes
    ----------
    label : str
        The label.
    pool_size : int
        n_label, the number of private records of the label.
    sample_rate : float
        q = M*N/n_label, the Poisson rate of each step.
    compositions : int
        Number of noisy selections made (or planned) for the label.
    epsilon : EpsilonBounds
        Epsilon of those selections under add/remove of one record of this label.
    """

    label: str
    pool_size: int
    sample_rate: float
    compositions: int
    epsilon: EpsilonBounds


@dataclass(frozen=True)
class PrivacyAccount:
    """The privacy cost of a run, per label and for the whole dataset.

    Attributes
    ----------
    per_label : Mapping[str, LabelAccount]
        One account per label, in the order of ``pool_sizes`` (read-only).
    dataset : EpsilonBounds
        Epsilon of the whole run under ``assumptions.neighbouring``. Under
        add/remove it is the maximum over labels. Under replace-one it is the
        worse of two labels combined (a record moved between labels) and a
        replacement within one label (group privacy of two add/remove steps).
    mechanism : Mechanism
        The noisy selection used.
    noise : float
        Sigma (Gaussian) or per-token eps0 (exponential).
    delta : float
        Delta of the dataset's guarantee.
    assumptions : PrivacyAssumptions
        What the guarantee assumes.
    warnings : tuple of str
        Every privacy warning raised while accounting.
    """

    per_label: Mapping[str, LabelAccount]
    dataset: EpsilonBounds
    mechanism: Mechanism
    noise: float
    delta: float
    assumptions: PrivacyAssumptions
    warnings: tuple[str, ...] = field(default=())


def account_run(
    mechanism: Mechanism | str,
    noise: float,
    pool_sizes: Mapping[str, int],
    compositions: Mapping[str, int],
    num_splits: int,
    shots: int,
    delta: float,
    assumptions: PrivacyAssumptions = PrivacyAssumptions(),
) -> PrivacyAccount:
    """Account a run: epsilon per label from its own pool, and for the dataset.

    Parameters
    ----------
    mechanism : Mechanism or str
        ``"gaussian"`` or ``"exponential"``.
    noise : float
        Sigma, or the per-token eps0 of the exponential mechanism.
    pool_sizes : Mapping[str, int]
        Number of private records per label.
    compositions : Mapping[str, int]
        Noisy selections per label; a label of ``pool_sizes`` missing here has 0.
    num_splits, shots : int
        M and N of each step; q = M*N/n_label.
    delta : float
        Delta of the dataset's guarantee.
    assumptions : PrivacyAssumptions
        Neighbouring relation, sampling scheme and public quantities.

    Warns
    -----
    PrivacyWarning
        If delta >= 1/n for the n records of the dataset, or the sampling is fixed-size.

    Raises
    ------
    AccountingError
        If an epsilon is too large to represent: a label's epsilon overflows
        a float, or under replace-one the group-privacy factor 1 + e^epsilon does.
    """
    mechanism = validate_inputs(mechanism, noise, 1.0, 0, delta)
    check_run_inputs(pool_sizes, compositions)
    messages = check_assumptions(assumptions, delta, sum(pool_sizes.values()))
    return account_checked_run(mechanism, noise, pool_sizes, compositions, num_splits, shots, delta, assumptions, messages)


def check_run_inputs(pool_sizes: Mapping[str, int], compositions: Mapping[str, int]) -> None:
    """Check that every label with compositions has a pool size, and that there is at least one pool."""
    unknown = sorted(set(compositions) - set(pool_sizes))
    if unknown:
        raise ValueError(f"compositions name labels {unknown} that have no pool size: add them to pool_sizes.")
    if not pool_sizes:
        raise ValueError("pool_sizes is empty: give the number of private records of each label.")
    for label, size in pool_sizes.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(
                f"pool size {size!r} of label {label!r} is invalid: give the number of its private records, 1 or more."
            )


def account_checked_run(
    mechanism: Mechanism,
    noise: float,
    pool_sizes: Mapping[str, int],
    compositions: Mapping[str, int],
    num_splits: int,
    shots: int,
    delta: float,
    assumptions: PrivacyAssumptions,
    messages: list[str],
) -> PrivacyAccount:
    """Account a run whose inputs are checked and whose privacy warnings were already raised as ``messages``."""
    per_label = {}
    for label, pool_size in pool_sizes.items():
        count = compositions.get(label, 0)
        rate = sample_rate(num_splits, shots, pool_size)
        per_label[label] = LabelAccount(label, pool_size, rate, count, epsilon(mechanism, noise, rate, count, delta))

    if assumptions.neighbouring is Neighbouring.ADD_REMOVE:
        dataset = _maximum([account.epsilon for account in per_label.values()], delta, "max over labels")
    else:
        dataset = _replace_one(mechanism, noise, list(per_label.values()), delta)
    return PrivacyAccount(MappingProxyType(per_label), dataset, mechanism, float(noise), delta, assumptions, tuple(messages))


def check_assumptions(assumptions: PrivacyAssumptions, delta: float, n_records: int) -> list[str]:
    """Warn with a PrivacyWarning for each assumption that weakens the guarantee, and return the messages."""
    messages = []
    if delta >= 1.0 / n_records:
        messages.append(
            f"delta={delta:g} is at or above 1/n = {1.0 / n_records:g} for n={n_records} records, which permits "
            f"publishing a whole record; use delta={default_delta(n_records):g} or smaller."
        )
    if assumptions.sampling is SamplingScheme.FIXED_SIZE:
        messages.append(
            "fixed-size sampling is accounted as Poisson sampling with q = M*N/n, which is only an approximation; "
            "use Poisson sampling for an exact guarantee."
        )
    for message in messages:
        warnings.warn(message, PrivacyWarning, stacklevel=3)
        logger.info("privacy warning: %s", message)
    return messages


def _maximum(bounds: list[EpsilonBounds], delta: float, how: str) -> EpsilonBounds:
    methods = sorted({bound.method for bound in bounds})
    return EpsilonBounds(
        max(bound.lower for bound in bounds),
        max(bound.estimate for bound in bounds),
        max(bound.upper for bound in bounds),
        delta,
        f"{how} ({', '.join(methods)})",
    )


def _replace_one(mechanism: Mechanism, noise: float, accounts: list[LabelAccount], delta: float) -> EpsilonBounds:
    """Epsilon under replace-one: the worst of a within-label and a cross-label replacement.

    Across labels a ~ b: removing a record from a and adding one to b affects
    two independent mechanisms, composed with basic composition at delta/2 each.
    Within label a: replace = remove then add, so group privacy of two
    add/remove steps: if the label is (e, d)-DP then it is
    (2e, (1 + e^e) d)-DP for replacement; e is found at d = delta / (1 + e^e).
    """
    candidates = [_within_label(mechanism, noise, account, delta) for account in accounts]
    if len(accounts) >= 2:
        halves = [epsilon(mechanism, noise, a.sample_rate, a.compositions, delta / 2) for a in accounts]
        order = sorted(range(len(accounts)), key=lambda index: halves[index].upper, reverse=True)
        first, second = order[0], order[1]
        # Either label alone is a post-processing of the pair, so its lower bound at delta is valid.
        lower = max(accounts[first].epsilon.lower, accounts[second].epsilon.lower)
        candidates.append(
            EpsilonBounds(
                lower,
                max(lower, halves[first].estimate + halves[second].estimate),
                halves[first].upper + halves[second].upper,
                delta,
                "replace-one across labels: sum at delta/2",
            )
        )
    return _maximum(candidates, delta, "replace-one worst case")


def _within_label(mechanism: Mechanism, noise: float, account: LabelAccount, delta: float) -> EpsilonBounds:
    inner_delta = delta / 2
    for _ in range(100):
        inner = epsilon(mechanism, noise, account.sample_rate, account.compositions, inner_delta)
        needed = delta / (1 + math.exp(min(inner.upper, 700.0)))
        if inner_delta <= needed:
            break
        if needed < 1e-300:
            raise AccountingError(
                f"label {account.label!r} at noise {noise:g} has an add/remove epsilon of {inner.upper:.4g} at "
                f"delta={inner_delta:.3g}, too large for the group-privacy step of replace-one accounting, whose "
                "delta factor 1 + e^epsilon overflows: raise sigma (or lower eps0), or plan fewer selections."
            )
        # Step a little past the fixed point d = delta / (1 + e^eps(d)) so that the check above passes.
        inner_delta = 0.99 * needed
    else:
        raise AccountingError(f"group privacy for replace-one did not converge at delta={delta:g}; report the setting.")
    return EpsilonBounds(
        account.epsilon.lower,
        max(account.epsilon.lower, 2 * inner.estimate),
        2 * inner.upper,
        delta,
        "replace-one within label: group of two",
    )
