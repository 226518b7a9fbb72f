"""The mechanism audit: runs, threshold, error rates, and epsilon bounds beside the claim.

:func:`audit_mechanism` runs the mechanism on the datasets with and without the
canary, in two independent batches. The first batch chooses the threshold of
the test "canary present when the run selected the canary token at least t
times". The second batch, which the choice never saw, gives the false-positive
and false-negative counts, their Clopper-Pearson bounds, and the epsilon lower
bound of :mod:`dpsynth.audit.bounds`. The claim is the accountant's epsilon for
the same settings. A lower bound above the claim's upper bound is a violation:
with probability at least the confidence level, the mechanism is less private
than its accounting claims.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ..accounting import EpsilonBounds, epsilon
from .bounds import (
    clopper_pearson_upper,
    epsilon_from_rates,
    gaussian_dp_epsilon,
    gaussian_dp_mu,
    max_certifiable_epsilon,
    per_rate_confidence,
    select_threshold,
    threshold_error_counts,
)
from .trials import AuditSettings, Variant, _check_variant, simulate_scores

__all__ = ["AuditResult", "NoiseSweep", "audit_mechanism", "claimed_epsilon", "sweep_noise"]

logger = logging.getLogger("dpsynth")


@dataclass(frozen=True)
class AuditResult:
    """The outcome of one mechanism audit, with every number a plot needs.

    Rates count runs. A false positive is a run without the canary that the
    test calls "present", and a false negative is a run with the canary that
    it calls "absent". Epsilon is in nats.

    Attributes
    ----------
    settings, variant
        What was audited.
    trials
        Estimation runs per dataset: the runs behind the rates.
    threshold_trials
        Runs per dataset that chose the threshold, disjoint from the estimation runs.
    threshold
        The test decides "canary present" when a run's score is at least this.
    false_positives, false_negatives
        Error counts of the estimation runs at ``threshold``.
    false_positive_upper, false_negative_upper
        Clopper-Pearson upper bounds on the two rates, each at confidence
        ``1 - (1 - confidence) / 2``.
    epsilon_lower
        The audit's lower bound on epsilon at ``settings.delta``. It holds with
        probability at least ``settings.confidence`` and assumes nothing about
        the mechanism.
    gaussian_mu, gaussian_mu_lower
        The mu of the GDP trade-off curve through the observed rates, and
        through their upper bounds.
    gaussian_epsilon
        The epsilon at ``settings.delta`` of a ``gaussian_mu_lower``-GDP
        mechanism. It is a lower bound only if the mechanism's privacy curve
        has the Gaussian shape: an estimate resting on that assumption.
    claimed
        The accountant's epsilon for the same settings.
    max_certifiable
        The largest ``epsilon_lower`` that ``trials`` runs can give.
    histogram_without, histogram_with
        The estimation runs' scores: entry ``s`` counts the runs with score ``s``.
    """

    settings: AuditSettings
    variant: Variant
    trials: int
    threshold_trials: int
    threshold: int
    false_positives: int
    false_negatives: int
    false_positive_upper: float
    false_negative_upper: float
    epsilon_lower: float
    gaussian_mu: float
    gaussian_mu_lower: float
    gaussian_epsilon: float
    claimed: EpsilonBounds
    max_certifiable: float
    histogram_without: tuple[int, ...]
    histogram_with: tuple[int, ...]

    @property
    def false_positive_rate(self) -> float:
        """The observed false-positive rate of the estimation runs."""
        return self.false_positives / self.trials

    @property
    def false_negative_rate(self) -> float:
        """The observed false-negative rate of the estimation runs."""
        return self.false_negatives / self.trials

    @property
    def violation(self) -> bool:
        """True when the lower bound exceeds the claim's upper bound: the accounting is wrong."""
        return self.epsilon_lower > self.claimed.upper

    @property
    def total_runs(self) -> int:
        """Runs of the mechanism on both datasets, threshold runs included."""
        return 2 * (self.trials + self.threshold_trials)

    @property
    def noisy_selections(self) -> int:
        """Noisy selections of all runs: ``total_runs * compositions``."""
        return self.total_runs * self.settings.compositions

    def trade_off_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the estimation runs' false-positive and false-negative rates at every threshold.

        Both arrays have length ``compositions + 2``, indexed by the threshold
        ``t = 0 .. compositions + 1``: the empirical trade-off curve.
        """
        without = np.repeat(np.arange(len(self.histogram_without)), self.histogram_without)
        with_canary = np.repeat(np.arange(len(self.histogram_with)), self.histogram_with)
        false_positives, false_negatives = threshold_error_counts(without, with_canary, self.settings.max_score)
        return false_positives / self.trials, false_negatives / self.trials

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain JSON values."""
        values = asdict(self)
        values["variant"] = self.variant.value
        values["claimed"] = asdict(self.claimed)
        values["histogram_without"] = list(self.histogram_without)
        values["histogram_with"] = list(self.histogram_with)
        values.update(
            false_positive_rate=self.false_positive_rate,
            false_negative_rate=self.false_negative_rate,
            violation=self.violation,
            total_runs=self.total_runs,
            noisy_selections=self.noisy_selections,
        )
        return values

    def __str__(self) -> str:
        verdict = "VIOLATION: the mechanism is less private than claimed" if self.violation else "no violation found"
        return (
            f"audit of the {self.variant.value} {self.settings.mechanism} mechanism, "
            f"{self.trials} runs per dataset at delta {self.settings.delta:g}: "
            f"epsilon >= {self.epsilon_lower:.3f} at {self.settings.confidence:.0%} confidence "
            f"(Gaussian-shape estimate {self.gaussian_epsilon:.3f}), "
            f"claimed {self.claimed.upper:.3f}; {verdict}"
        )


def claimed_epsilon(settings: AuditSettings) -> EpsilonBounds:
    """Return the accountant's epsilon for the settings: the claim the audit tests."""
    return epsilon(settings.mechanism, settings.noise, settings.sample_rate, settings.compositions, settings.delta)


def audit_mechanism(
    settings: AuditSettings,
    rng: np.random.Generator,
    *,
    variant: Variant | str = Variant.CORRECT,
    trials: int = 100_000,
    threshold_trials: int | None = None,
) -> AuditResult:
    """Audit the mechanism: run it on both datasets and bound its epsilon from below.

    Parameters
    ----------
    settings
        The mechanism, its parameters, the delta of the claim and the confidence level.
    rng
        The source of every draw; a seeded generator makes the audit reproducible.
    variant
        The correct mechanism or one of the broken variants of :class:`Variant`.
    trials
        Estimation runs per dataset.
    threshold_trials
        Runs per dataset that choose the threshold; a quarter of ``trials`` by default.

    Returns
    -------
    AuditResult
    """
    variant = _check_variant(settings, variant)
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials={trials!r} is invalid: give a whole number of runs, 1 or more.")
    if threshold_trials is None:
        threshold_trials = max(1, trials // 4)
    if isinstance(threshold_trials, bool) or not isinstance(threshold_trials, (int, np.integer)) or threshold_trials < 1:
        raise ValueError(f"threshold_trials={threshold_trials!r} is invalid: give a whole number of runs, 1 or more.")
    claimed = claimed_epsilon(settings)

    threshold = select_threshold(
        simulate_scores(settings, variant, threshold_trials, False, rng),
        simulate_scores(settings, variant, threshold_trials, True, rng),
        settings.max_score,
        trials,
        settings.delta,
        settings.confidence,
    )
    without = simulate_scores(settings, variant, trials, False, rng)
    with_canary = simulate_scores(settings, variant, trials, True, rng)
    false_positives, false_negatives = threshold_error_counts(without, with_canary, settings.max_score)
    fp, fn = int(false_positives[threshold]), int(false_negatives[threshold])

    level = per_rate_confidence(settings.confidence)
    fp_upper = clopper_pearson_upper(fp, trials, level)
    fn_upper = clopper_pearson_upper(fn, trials, level)
    mu_lower = gaussian_dp_mu(fp_upper, fn_upper)
    result = AuditResult(
        settings=settings,
        variant=variant,
        trials=int(trials),
        threshold_trials=int(threshold_trials),
        threshold=threshold,
        false_positives=fp,
        false_negatives=fn,
        false_positive_upper=fp_upper,
        false_negative_upper=fn_upper,
        epsilon_lower=epsilon_from_rates(fp_upper, fn_upper, settings.delta),
        gaussian_mu=gaussian_dp_mu(fp / trials, fn / trials),
        gaussian_mu_lower=mu_lower,
        gaussian_epsilon=gaussian_dp_epsilon(mu_lower, settings.delta),
        claimed=claimed,
        max_certifiable=max_certifiable_epsilon(int(trials), settings.delta, settings.confidence),
        histogram_without=tuple(int(x) for x in np.bincount(without, minlength=settings.max_score + 1)),
        histogram_with=tuple(int(x) for x in np.bincount(with_canary, minlength=settings.max_score + 1)),
    )
    logger.info(
        "Audit of the %s variant: %d runs per dataset, threshold %d, epsilon >= %.4g, claimed %.4g.",
        variant.value, trials, threshold, result.epsilon_lower, claimed.upper,
    )
    return result


@dataclass(frozen=True)
class NoiseSweep:
    """Audits of one variant at several noise values: the curves of a bound-against-claim plot.

    Attributes
    ----------
    noises
        The noise values (sigma, or eps0 for the exponential mechanism), in the order given.
    epsilon_lower, gaussian_epsilon, claimed
        For each noise value: the audit's lower bound, the Gaussian-shape
        estimate, and the accountant's epsilon (its upper bound).
    max_certifiable
        The largest lower bound the trial budget can give, the same at every noise value.
    results
        The full result of each audit.
    """

    noises: tuple[float, ...]
    epsilon_lower: tuple[float, ...]
    gaussian_epsilon: tuple[float, ...]
    claimed: tuple[float, ...]
    max_certifiable: float
    results: tuple[AuditResult, ...]

    @property
    def violations(self) -> tuple[bool, ...]:
        """For each noise value, whether the audit found a violation."""
        return tuple(result.violation for result in self.results)


def sweep_noise(
    settings: AuditSettings,
    noises: Sequence[float],
    rng: np.random.Generator,
    *,
    variant: Variant | str = Variant.CORRECT,
    trials: int = 100_000,
) -> NoiseSweep:
    """Audit ``variant`` at each noise value, with the other settings unchanged.

    The audits draw from ``rng`` one after another, so the sweep is reproducible
    from a seeded generator.
    """
    if len(noises) == 0:
        raise ValueError("noises is empty: give at least one noise value to audit.")
    results = tuple(
        audit_mechanism(replace(settings, noise=float(noise)), rng, variant=variant, trials=trials) for noise in noises
    )
    return NoiseSweep(
        noises=tuple(float(noise) for noise in noises),
        epsilon_lower=tuple(result.epsilon_lower for result in results),
        gaussian_epsilon=tuple(result.gaussian_epsilon for result in results),
        claimed=tuple(result.claimed.upper for result in results),
        max_certifiable=results[0].max_certifiable,
        results=results,
    )
