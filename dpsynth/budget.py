"""Budget planning: the worst case of a run before it starts, and the caps that hold it to a budget.

A run's worst case is every example reaching ``t_max`` tokens, so label ``y``
spends at most ``sizes[y] * t_max`` noisy selections. Planning accounts that
worst case, calibrates the noise for a target epsilon if one is given, and turns
a maximum epsilon into a per-label cap on noisy selections that the run's ledger
enforces.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from .accounting import (
    PrivacyAccount,
    PrivacyAssumptions,
    account_run,
    calibrate_run,
    default_delta,
    max_compositions,
    sample_rate,
)
from .generation import GenerationConfig, resolve_sizes, validate_pools

__all__ = ["BudgetError", "RunPlan", "plan_run", "worst_case_compositions"]


class BudgetError(ValueError):
    """A planned run's worst case exceeds the maximum epsilon; the message gives both numbers."""


@dataclass(frozen=True)
class RunPlan:
    """A run's parameters after calibration, with its worst-case privacy account.

    Attributes
    ----------
    config
        The mechanism's parameters; ``sigma`` is the calibrated value when a target
        epsilon was given.
    delta
        The delta of every reported epsilon.
    sizes
        Examples per label.
    worst_case
        The account of the run if every example reaches ``t_max``.
    max_compositions
        Per-label caps on noisy selections under ``max_epsilon``, or None.
    """

    config: GenerationConfig
    delta: float
    sizes: Mapping[str, int]
    worst_case: PrivacyAccount
    max_compositions: Mapping[str, int] | None


def worst_case_compositions(sizes: Mapping[str, int], t_max: int) -> dict[str, int]:
    """Return ``sizes[y] * t_max`` per label: every example reaching ``t_max`` tokens."""
    return {label: size * t_max for label, size in sizes.items()}


def plan_run(
    pool_sizes: Mapping[str, int],
    sizes: int | Mapping[str, int],
    config: GenerationConfig,
    *,
    delta: float | None = None,
    target_epsilon: float | None = None,
    max_epsilon: float | None = None,
    assumptions: PrivacyAssumptions | None = None,
) -> RunPlan:
    """Plan a run: resolve sizes, calibrate the noise, account the worst case, set caps.

    Parameters
    ----------
    pool_sizes
        Private records per label.
    sizes
        Examples per label, as :func:`dpsynth.generation.resolve_sizes` takes them.
    config
        The mechanism's parameters; ``config.sigma`` is replaced when
        ``target_epsilon`` is given.
    delta
        The delta of the guarantee; by default :func:`dpsynth.accounting.default_delta`
        of the number of records.
    target_epsilon
        Calibrate the noise so that the worst case meets this epsilon (upper bound):
        the largest noise any label needs.
    max_epsilon
        Reject a run whose worst case exceeds it, and cap each label's noisy
        selections so that its epsilon cannot exceed it.

    Raises
    ------
    BudgetError
        The worst case exceeds ``max_epsilon``.
    """
    assumptions = assumptions or PrivacyAssumptions(sampling=config.sampling)
    wanted = resolve_sizes(sizes, list(pool_sizes))
    validate_pools(pool_sizes, wanted, config)
    used = {label: pool_sizes[label] for label, size in wanted.items() if size}
    if delta is None:
        delta = default_delta(sum(pool_sizes.values()))
    planned = worst_case_compositions({label: wanted[label] for label in used}, config.t_max)
    rates = {label: sample_rate(config.num_splits, config.num_samples_per_split, n) for label, n in used.items()}

    def account(noise: float) -> PrivacyAccount:
        return account_run(
            config.mechanism, noise, used, planned,
            config.num_splits, config.num_samples_per_split, delta, assumptions,
        )

    if target_epsilon is not None:
        # The search runs on the dataset's epsilon, which combines the labels as the
        # neighbouring relation requires.
        calibration = calibrate_run(
            config.mechanism, target_epsilon, used, planned,
            config.num_splits, config.num_samples_per_split, delta, assumptions,
        )
        config = dataclasses.replace(config, sigma=calibration.noise)

    worst_case = account(config.sigma)
    caps = None
    if max_epsilon is not None:
        if worst_case.dataset.upper > max_epsilon:
            raise BudgetError(
                f"the run's worst case (every example reaching t_max={config.t_max}) spends epsilon "
                f"{worst_case.dataset.upper:.4g} (upper bound) at delta={delta:g}, more than "
                f"max_epsilon={max_epsilon:g}: "
                + (
                    "lower the target epsilon, or raise max_epsilon."
                    if target_epsilon is not None
                    else "raise sigma, or lower --sizes or --t-max."
                )
            )
        # NOTE: each cap bounds one label's add/remove epsilon. Under replace-one two
        # labels combine, and only the worst-case check above bounds the combination.
        caps = {
            label: max_compositions(config.mechanism, config.sigma, rates[label], max_epsilon, delta)
            for label in used
        }
    return RunPlan(config, delta, wanted, worst_case, caps)
