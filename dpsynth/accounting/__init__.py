"""Privacy accounting: epsilon with bounds, calibration, and a run's privacy account.

Modules, by concept:

- ``types``: enums, result dataclasses, assumptions, the warning and error classes.
- ``gaussian``: analytic Gaussian, one subsampled Gaussian step, Rényi DP bound.
- ``pure_dp``: exact composition of the (subsampled) exponential mechanism.
- ``accountant``: the epsilon query with its checks and fallbacks, and curves.
- ``calibration``: noise for a target epsilon of one label or a run, compositions for a budget.
- ``run``: sampling rate, default delta, per-label and dataset accounts.
- ``llamaindex_pack``: what LlamaIndex's DiffPrivateSimpleDatasetPack would report.
"""

from __future__ import annotations

from .calibration import calibrate, calibrate_run, max_compositions
from .accountant import clear_caches, delta_curve, epsilon, epsilon_curve
from .run import LabelAccount, PrivacyAccount, account_run, default_delta, sample_rate
from .llamaindex_pack import llamaindex_pack_sigma_to_eps
from .types import (
    AccountingError,
    Calibration,
    EpsilonBounds,
    Mechanism,
    Neighbouring,
    PrivacyAssumptions,
    PrivacyWarning,
    SamplingScheme,
)

__all__ = [
    "AccountingError",
    "Calibration",
    "EpsilonBounds",
    "LabelAccount",
    "Mechanism",
    "Neighbouring",
    "PrivacyAccount",
    "PrivacyAssumptions",
    "PrivacyWarning",
    "SamplingScheme",
    "account_run",
    "calibrate",
    "calibrate_run",
    "clear_caches",
    "default_delta",
    "delta_curve",
    "epsilon",
    "epsilon_curve",
    "max_compositions",
    "sample_rate",
    "llamaindex_pack_sigma_to_eps",
]
