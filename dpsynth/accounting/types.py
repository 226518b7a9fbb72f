"""Value types of the privacy accountant: enums, results, assumptions, errors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

# The sampler and the accountant share one definition of the scheme.
from ..sampling import SamplingScheme

__all__ = [
    "AccountingError",
    "Calibration",
    "EpsilonBounds",
    "Mechanism",
    "Neighbouring",
    "PrivacyAssumptions",
    "PrivacyWarning",
    "SamplingScheme",
]


class Mechanism(str, Enum):
    """The noisy selection whose privacy cost is accounted.

    ``GAUSSIAN``: Gaussian noisy argmax, parameterised by the noise multiplier
    sigma (noise standard deviation divided by the L2 sensitivity).
    ``EXPONENTIAL``: exponential mechanism (report noisy max with Gumbel noise),
    parameterised by the per-token epsilon ``eps0`` of one selection on the
    whole pool, before amplification by subsampling.
    """

    GAUSSIAN = "gaussian"
    EXPONENTIAL = "exponential"


class Neighbouring(str, Enum):
    """The relation between two datasets that the guarantee protects.

    ``ADD_REMOVE``: one dataset has one record more than the other.
    ``REPLACE_ONE``: one record is replaced by another, possibly with a different
    label, so two labels' generations can see the change.
    """

    ADD_REMOVE = "add_remove"
    REPLACE_ONE = "replace_one"


class PrivacyWarning(UserWarning):
    """A choice weakens the privacy guarantee, such as delta >= 1/n or fixed-size sampling."""


class AccountingError(ValueError):
    """A setting lies outside the range of every sound accountant available.

    The message names the setting and the change that brings it back in range.
    """


@dataclass(frozen=True)
class EpsilonBounds:
    """Epsilon of an (epsilon, delta)-DP guarantee with its numerical error.

    The mechanism is (``upper``, ``delta``)-DP: ``upper`` is the number to rely
    on. The smallest epsilon that is valid at this delta lies in
    [``lower``, ``upper``], and ``estimate`` is the accountant's best value in
    between. Epsilon is in nats (natural logarithm).

    Attributes
    ----------
    lower, estimate, upper : float
        Bounds and estimate of epsilon, ``lower <= estimate <= upper``.
    delta : float
        The delta of the guarantee, in (0, 1).
    method : str
        The accountant that produced the numbers, for example
        ``"analytic-gaussian"``, ``"binomial-exact"``, ``"pld-fft"``, ``"rdp"``.
    """

    lower: float
    estimate: float
    upper: float
    delta: float
    method: str

    def __post_init__(self) -> None:
        values = (self.lower, self.estimate, self.upper)
        if any(math.isnan(value) for value in values):
            raise ValueError(f"epsilon bounds {values} contain NaN.")
        if not self.lower <= self.estimate <= self.upper:
            raise ValueError(
                f"epsilon bounds are out of order: lower={self.lower}, estimate={self.estimate}, upper={self.upper}."
            )

    def __str__(self) -> str:
        return f"epsilon {self.estimate:.4g} (bounds [{self.lower:.4g}, {self.upper:.4g}]) at delta {self.delta:.3g}"


@dataclass(frozen=True)
class Calibration:
    """The noise that meets a target epsilon, with the epsilon it achieves.

    Attributes
    ----------
    noise : float
        Gaussian noise multiplier sigma, or the exponential mechanism's per-token
        epsilon ``eps0``.
    epsilon : EpsilonBounds
        The accounted epsilon at ``noise``; ``epsilon.upper`` is at or below the target.
    """

    noise: float
    epsilon: EpsilonBounds


DEFAULT_PUBLIC_QUANTITIES = (
    "per-label pool sizes n_label",
    "sampling rate q = M*N/n_label",
    "number of noisy selections per label",
)


@dataclass(frozen=True)
class PrivacyAssumptions:
    """The assumptions under which an epsilon is valid, stated as values.

    Attributes
    ----------
    neighbouring : Neighbouring
        The neighbouring relation; add/remove one record by default.
    sampling : SamplingScheme
        How each step's records are drawn; Poisson, which the accountant
        describes exactly, by default.
    public_quantities : tuple of str
        Quantities derived from the private data that the guarantee treats as
        public (released or known in advance) and does not protect.
    """

    neighbouring: Neighbouring = Neighbouring.ADD_REMOVE
    sampling: SamplingScheme = SamplingScheme.POISSON
    public_quantities: tuple[str, ...] = field(default=DEFAULT_PUBLIC_QUANTITIES)

    def __post_init__(self) -> None:
        object.__setattr__(self, "neighbouring", Neighbouring(self.neighbouring))
        object.__setattr__(self, "sampling", SamplingScheme(self.sampling))
        object.__setattr__(self, "public_quantities", tuple(self.public_quantities))
