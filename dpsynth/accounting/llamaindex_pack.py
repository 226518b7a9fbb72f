"""Epsilon as LlamaIndex's DiffPrivateSimpleDatasetPack reports it, for comparison.

The pack (llama-index-packs-diff-private-simple-dataset 0.4.1) computes
epsilon in its ``sigma_to_eps`` method as follows, and this module repeats that
computation so a report can show it side by side with dpsynth's:

- sampling rate ``q = size / n_total``, where ``size`` is the number of synthetic
  examples requested and ``n_total`` the number of private records of all labels
  (not the rate of any step, which is M*N/n_label);
- ``delta = 1 / n_total`` (which permits publishing one record outright);
- ``max_token_cnt`` compositions for the whole run (one example's tokens, not the
  run's);
- prv-accountant's ``PRVAccountant`` with ``max_self_compositions=[1000]``,
  ``eps_error=0.01``, ``delta_error=1e-10``, reporting the estimate only;
- for the exponential mechanism, ``PureDPMechanism`` with
  ``log(1 + q * (exp(sigma) - 1))``, where prv-accountant can be silently wrong.

The pack raises ValueError when ``max_token_cnt > 1000``, and prv-accountant
0.2.0 raises RuntimeError at large epsilon; both are reported here as None.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

from .types import Mechanism

__all__ = ["llamaindex_pack_sigma_to_eps"]

logger = logging.getLogger("dpsynth")

PACK_MAX_SELF_COMPOSITIONS = 1000
PACK_EPS_ERROR = 0.01
PACK_DELTA_ERROR = 1e-10


def llamaindex_pack_sigma_to_eps(
    sigma: float,
    mechanism: Mechanism | str,
    size: int,
    max_token_cnt: int,
    num_examples: int,
) -> float | None:
    """Return the epsilon the pack's ``sigma_to_eps`` would report, or None where it raises.

    Parameters
    ----------
    sigma : float
        The pack's ``sigma``: the noise multiplier, or eps0 for the exponential mechanism.
    mechanism : Mechanism or str
        ``"gaussian"`` or ``"exponential"``.
    size : int
        The pack's ``size``: the number of synthetic examples requested.
    max_token_cnt : int
        The pack's ``max_token_cnt``: tokens per example.
    num_examples : int
        Number of private records of all labels (the pack's ``n_total``).

    Returns
    -------
    float or None
        The pack's epsilon estimate, or None where the pack raises an error
        (``max_token_cnt`` above 1000, or prv-accountant's numerical failure).
    """
    mechanism = Mechanism(mechanism)
    if max_token_cnt > PACK_MAX_SELF_COMPOSITIONS:
        return None
    return _pack_estimate(float(sigma), mechanism, int(size), int(max_token_cnt), int(num_examples))


PACK_MAX_DOMAIN_POINTS = 20_000_000
"""Largest discretisation grid tried (about 0.3 GB of long doubles); the pack itself
would try any size and can fail with a MemoryError, as at sigma 0.05."""


def _domain_points(prv: object) -> float:
    # The grid prv-accountant 0.2.0 allocates: [-L, L] at the mesh size of its Theorem 5.5.
    from prv_accountant.accountant import compute_safe_domain_size

    half_width = compute_safe_domain_size([prv], [PACK_MAX_SELF_COMPOSITIONS], PACK_EPS_ERROR, PACK_DELTA_ERROR)
    mesh = PACK_EPS_ERROR / math.sqrt(PACK_MAX_SELF_COMPOSITIONS / 2 * math.log(12 / PACK_DELTA_ERROR))
    return 2 * half_width / mesh


@lru_cache(maxsize=128)
def _pack_estimate(sigma: float, mechanism: Mechanism, size: int, max_token_cnt: int, num_examples: int) -> float | None:
    from prv_accountant import PRVAccountant
    from prv_accountant.privacy_random_variables import PoissonSubsampledGaussianMechanism, PureDPMechanism

    rate = size / num_examples
    try:
        if mechanism is Mechanism.EXPONENTIAL:
            prv = PureDPMechanism(eps=math.log(1 + rate * (math.exp(sigma) - 1)))
        else:
            prv = PoissonSubsampledGaussianMechanism(sampling_probability=rate, noise_multiplier=sigma)
        points = _domain_points(prv)
        if points > PACK_MAX_DOMAIN_POINTS:
            logger.info("the LlamaIndex pack's sigma_to_eps would need a grid of %.3g points here; not computed", points)
            return None
        accountant = PRVAccountant(
            prvs=[prv],
            max_self_compositions=[PACK_MAX_SELF_COMPOSITIONS],
            eps_error=PACK_EPS_ERROR,
            delta_error=PACK_DELTA_ERROR,
        )
        _, estimate, _ = accountant.compute_epsilon(delta=1 / num_examples, num_self_compositions=[max_token_cnt])
    except (RuntimeError, ValueError, OverflowError, FloatingPointError, MemoryError) as error:
        logger.info("the LlamaIndex pack's sigma_to_eps would raise here: %s", error)
        return None
    return float(estimate)
