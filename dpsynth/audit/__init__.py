"""Empirical privacy audit: test a privacy claim instead of only reading it.

Mechanism audit
    :func:`audit_mechanism` runs the noisy selection many times on two
    neighbouring datasets, with and without one canary record, under a
    worst-case model (:class:`CanaryModel`). The error rates of a
    distinguishing test give a lower bound on epsilon at a stated confidence.
    A correct mechanism never gives a bound above the accountant's epsilon,
    except with probability at most one minus the confidence level; the broken
    variants of :class:`Variant` do, at the settings in ``docs/audit.md``.

Text audit
    :func:`ngram_overlap` finds verbatim n-grams that synthetic texts share with
    private records, and :func:`canary_exposure` measures how much a synthetic
    dataset reveals canaries inserted into the private data. Both report
    counts, indices and lengths, never text.

Modules: ``canary`` (the worst-case model), ``trials`` (vectorised runs),
``bounds`` (statistics), ``experiment`` (the mechanism audit), ``text`` (the
text audit), ``command`` (the ``dpsynth audit`` command).
"""

from __future__ import annotations

from .bounds import (
    clopper_pearson_upper,
    epsilon_from_rates,
    gaussian_dp_epsilon,
    gaussian_dp_mu,
    max_certifiable_epsilon,
)
from .canary import AuditVectors, CanaryModel, audit_vectors
from .command import add_audit_parser, run_audit
from .experiment import AuditResult, NoiseSweep, audit_mechanism, claimed_epsilon, sweep_noise
from .text import (
    Canary,
    CanaryExposure,
    ExposureReport,
    OverlapMatch,
    OverlapReport,
    canary_exposure,
    insert_canaries,
    make_canaries,
    ngram_overlap,
)
from .trials import VARIANT_DESCRIPTIONS, AuditSettings, Variant, simulate_scores

__all__ = [
    "VARIANT_DESCRIPTIONS",
    "AuditResult",
    "AuditSettings",
    "AuditVectors",
    "Canary",
    "CanaryExposure",
    "CanaryModel",
    "ExposureReport",
    "OverlapMatch",
    "NoiseSweep",
    "OverlapReport",
    "Variant",
    "add_audit_parser",
    "audit_mechanism",
    "audit_vectors",
    "canary_exposure",
    "claimed_epsilon",
    "clopper_pearson_upper",
    "epsilon_from_rates",
    "gaussian_dp_epsilon",
    "gaussian_dp_mu",
    "insert_canaries",
    "make_canaries",
    "max_certifiable_epsilon",
    "ngram_overlap",
    "run_audit",
    "simulate_scores",
    "sweep_noise",
]
