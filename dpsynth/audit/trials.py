"""Many independent runs of the mechanism on the two neighbouring datasets, vectorised.

One run is ``T`` token steps (compositions) of the mechanism with the canary
model of :mod:`dpsynth.audit.canary`. At each step of a run on the dataset with
the canary, the canary record joins the step's sample with probability ``q``,
independently of the other steps. This is Poisson sampling, the accountant's
model of a step. The merged vector is the canary vector when the canary is in
the sample and ``p0`` otherwise. On the dataset without the canary every step
merges to ``p0``. A run's score is the
number of steps that selected the canary token.

The selection is :func:`dpsynth.mechanisms.gaussian_noisy_argmax` or
:func:`dpsynth.mechanisms.exponential_noisy_argmax`, the functions generation
calls, applied to arrays of shape ``(runs, T, k)``. A broken variant calls the
same function the way a bug would: with the wrong noise parameter, or with one
inclusion draw per run reused for all ``T`` steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..mechanisms import exponential_noisy_argmax, gaussian_noisy_argmax
from .canary import AuditVectors, audit_vectors

__all__ = ["AuditSettings", "Variant", "VARIANT_DESCRIPTIONS", "simulate_scores"]

# Noise draws per chunk of runs: 2**21 float64 values (16 MiB) keep memory flat
# at any number of runs.
_CHUNK_VALUES = 1 << 21


class Variant(str, Enum):
    """The mechanism under audit: the correct one, or a deliberately broken one."""

    CORRECT = "correct"
    HALF_NOISE = "half_noise"
    WRONG_SENSITIVITY = "wrong_sensitivity"
    REUSED_SAMPLE = "reused_sample"


VARIANT_DESCRIPTIONS = {
    Variant.CORRECT: "the mechanism as generation runs it",
    Variant.HALF_NOISE: "noise half of what the calibration says (Gaussian: std sigma*sqrt(2)/(2M); "
    "exponential: scale eps0*M instead of eps0*M/2)",
    Variant.WRONG_SENSITIVITY: "Gaussian noise scaled to sensitivity 1/M instead of sqrt(2)/M (std sigma/M)",
    Variant.REUSED_SAMPLE: "one sample drawn per run and reused for every token, while the "
    "accounting assumes a fresh sample per token",
}
"""The change each variant makes, for help texts and reports."""


def _check_whole(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} is invalid: give a whole number, {minimum} or more.")
    return int(value)


@dataclass(frozen=True)
class AuditSettings:
    """The mechanism an audit runs and the claim it tests.

    The claim is the accountant's epsilon at ``delta`` for ``compositions``
    noisy selections with sampling rate ``sample_rate`` and noise ``noise``.

    Attributes
    ----------
    mechanism
        ``"gaussian"`` or ``"exponential"``.
    noise
        Gaussian: the noise multiplier sigma (std ``sigma * sqrt(2) / M``).
        Exponential: the per-token epsilon eps0.
    compositions
        ``T``, the token steps (noisy selections) per run.
    sample_rate
        ``q``, the probability that the canary joins one step's sample, in (0, 1].
    num_splits
        ``M``, the splits per step. One split puts the runs' threshold at the
        centre of the Gaussian noise, where a test loses least.
    universe_size
        ``k``, the tokens per step, 2 or more. Two tokens lose least: the
        others only add noise to the argmax.
    delta
        The delta of the claim, in (0, 1).
    confidence
        The confidence level of the lower bound, in (0, 1).
    """

    mechanism: str = "gaussian"
    noise: float = 1.5
    compositions: int = 5
    sample_rate: float = 1.0
    num_splits: int = 1
    universe_size: int = 2
    delta: float = 0.05
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.mechanism not in ("gaussian", "exponential"):
            raise ValueError(f"mechanism={self.mechanism!r} is invalid: use 'gaussian' or 'exponential'.")
        name = "sigma" if self.mechanism == "gaussian" else "eps0 (per-token epsilon)"
        if isinstance(self.noise, bool) or not isinstance(self.noise, (int, float, np.floating, np.integer)):
            raise TypeError(f"{name}={self.noise!r} is invalid: give a positive finite number.")
        if not math.isfinite(self.noise) or self.noise <= 0:
            raise ValueError(f"{name}={self.noise!r} is invalid: give a positive finite number.")
        _check_whole("compositions", self.compositions, 1)
        _check_whole("num_splits", self.num_splits, 1)
        _check_whole("universe_size", self.universe_size, 2)
        if not isinstance(self.sample_rate, (int, float)) or not 0 < self.sample_rate <= 1:
            raise ValueError(f"sample_rate={self.sample_rate!r} is invalid: give a probability in (0, 1].")
        for name, value in (("delta", self.delta), ("confidence", self.confidence)):
            if not isinstance(value, (int, float)) or not 0 < value < 1:
                raise ValueError(f"{name}={value!r} is invalid: give a number strictly between 0 and 1.")

    @property
    def max_score(self) -> int:
        """The largest score of a run: every step selected the canary token."""
        return self.compositions


def _check_variant(settings: AuditSettings, variant: Variant | str) -> Variant:
    try:
        variant = Variant(variant)
    except ValueError:
        names = ", ".join(item.value for item in Variant)
        raise ValueError(f"variant={variant!r} is unknown: use one of {names}.") from None
    if variant is Variant.WRONG_SENSITIVITY and settings.mechanism != "gaussian":
        raise ValueError(
            "variant 'wrong_sensitivity' applies to the Gaussian mechanism only: the exponential "
            "mechanism's scale eps0*M/2 has no L2 sensitivity; use another variant."
        )
    if variant is Variant.REUSED_SAMPLE and settings.sample_rate == 1.0:
        raise ValueError(
            "variant 'reused_sample' needs sample_rate below 1: at q = 1 every step contains the "
            "canary anyway, so reusing the sample changes nothing."
        )
    return variant


def _select(merged: np.ndarray, settings: AuditSettings, variant: Variant, rng: np.random.Generator) -> np.ndarray:
    """Run the noisy selection of ``settings.mechanism`` as ``variant`` implements it."""
    noise = settings.noise
    if settings.mechanism == "gaussian":
        if variant is Variant.HALF_NOISE:
            noise = noise / 2.0
        elif variant is Variant.WRONG_SENSITIVITY:
            # std = sigma' * sqrt(2) / M with sigma' = sigma / sqrt(2) is sigma / M.
            noise = noise / math.sqrt(2.0)
        return gaussian_noisy_argmax(merged, noise, settings.num_splits, rng)
    if variant is Variant.HALF_NOISE:
        # argmax(s * p + G / 2) = argmax(2 s * p + G): half the Gumbel noise is twice eps0.
        # NOTE: with one split and two tokens a step shows only eps0 / 2 of the per-token
        # epsilon, so this variant lands on the claim and the audit does not catch it.
        noise = 2.0 * noise
    return exponential_noisy_argmax(merged, noise, settings.num_splits, rng)


def _chunk_scores(
    runs: int,
    settings: AuditSettings,
    variant: Variant,
    vectors: AuditVectors,
    with_canary: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    steps, size = settings.compositions, settings.universe_size
    if not with_canary:
        merged = np.broadcast_to(vectors.without_canary, (runs, steps, size))
    elif settings.sample_rate == 1.0:
        merged = np.broadcast_to(vectors.with_canary, (runs, steps, size))
    else:
        draws_per_run = 1 if variant is Variant.REUSED_SAMPLE else steps
        included = rng.random((runs, draws_per_run)) < settings.sample_rate
        included = np.broadcast_to(included, (runs, steps))
        options = np.stack([vectors.without_canary, vectors.with_canary])
        merged = options[included.astype(np.intp)]
    selected = _select(merged, settings, variant, rng)
    return np.count_nonzero(selected == vectors.canary_index, axis=1)


def simulate_scores(
    settings: AuditSettings,
    variant: Variant | str,
    runs: int,
    with_canary: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    """Run the mechanism ``runs`` times on one of the two datasets and score each run.

    Parameters
    ----------
    settings
        The mechanism's parameters and the number of steps per run.
    variant
        The correct mechanism or a broken one (:class:`Variant`).
    runs
        Independent runs of ``settings.compositions`` steps each.
    with_canary
        True for the dataset with the canary record, False for the one without.
    rng
        The source of every sampling and noise draw.

    Returns
    -------
    numpy.ndarray
        Integer array of shape ``(runs,)``: the number of steps of each run that
        selected the canary token, from 0 to ``settings.compositions``.
    """
    variant = _check_variant(settings, variant)
    runs = _check_whole("runs", runs, 0)
    vectors = audit_vectors(settings.num_splits, settings.universe_size)
    per_chunk = max(1, _CHUNK_VALUES // (settings.compositions * settings.universe_size))
    scores = np.empty(runs, dtype=np.int64)
    for start in range(0, runs, per_chunk):
        stop = min(start + per_chunk, runs)
        scores[start:stop] = _chunk_scores(stop - start, settings, variant, vectors, with_canary, rng)
    return scores
