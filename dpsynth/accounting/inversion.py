"""Turn a privacy profile delta(epsilon) into epsilon bounds at a given delta."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

from scipy.optimize import brentq

__all__ = ["invert_profile"]

_RELATIVE_STEP = 1e-10
_ABSOLUTE_STEP = 1e-12
_LARGEST = sys.float_info.max
_SMALLEST = math.ulp(0.0)


def invert_profile(profile: Callable[[float], float], delta: float, upper_start: float) -> tuple[float, float]:
    """Return a bracket ``(lo, hi)`` of the smallest epsilon with ``profile(epsilon) <= delta``.

    ``profile`` must be non-increasing in epsilon. The bracket satisfies
    ``profile(hi) <= delta`` and, unless ``lo == 0``, ``profile(lo) > delta``, and
    its width is about 1e-10 relative to epsilon.

    Parameters
    ----------
    profile : callable
        delta(epsilon) of the mechanism, for epsilon >= 0.
    delta : float
        Target delta in (0, 1).
    upper_start : float
        A first guess of an epsilon where ``profile <= delta``; doubled until it is one.

    Raises
    ------
    OverflowError
        If ``profile`` stays above ``delta`` up to the largest float.
    """
    if profile(0.0) <= delta:
        return 0.0, 0.0
    hi = min(max(upper_start, 1e-6), _LARGEST)
    while profile(hi) > delta:
        if hi >= _LARGEST:
            raise OverflowError(f"no finite epsilon reaches delta={delta:g}")
        hi = min(2.0 * hi, _LARGEST)
    log_delta = math.log(delta)
    # Clamping at delta/1000 keeps the logarithm finite and the sign of the gap unchanged.
    log_floor = math.log(max(delta * 1e-3, _SMALLEST))

    def gap(epsilon: float) -> float:
        profile_value = profile(epsilon)
        if profile_value <= 0:
            return log_floor - log_delta
        return max(math.log(profile_value), log_floor) - log_delta

    root = brentq(gap, 0.0, hi, xtol=_ABSOLUTE_STEP, rtol=1e-15, maxiter=200)
    return _widen_to_bracket(profile, delta, root)


def _widen_to_bracket(profile: Callable[[float], float], delta: float, root: float) -> tuple[float, float]:
    step = max(_ABSOLUTE_STEP, _RELATIVE_STEP * root)
    hi = root + step
    while profile(hi) > delta:
        step *= 4.0
        hi = root + step
        if not math.isfinite(hi):
            raise OverflowError(f"no finite epsilon reaches delta={delta:g}")
    lo = max(0.0, root - step)
    while lo > 0.0 and profile(lo) <= delta:
        step *= 4.0
        lo = max(0.0, root - step)
    return lo, hi
