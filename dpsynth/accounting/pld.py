"""Privacy loss distribution of the Poisson-subsampled Gaussian, composed by FFT.

Method (Koskela, Jälkö and Honkela 2020; Gopi, Lee and Wutschitz 2021):

1. The privacy loss of one step, L = log(P(x)/Q(x)) with x ~ P, has a closed-form
   CDF in each direction of add/remove (sensitivity 1, noise multiplier sigma):
   remove: P = (1-q) N(0, s^2) + q N(1, s^2), Q = N(0, s^2);
   add: P = N(0, s^2), Q = (1-q) N(0, s^2) + q N(1, s^2).
2. Discretise L on a grid of mesh h. The mass of each cell [g - h/2, g + h/2)
   goes to its centre g, and mass above the window goes to +infinity. The grid
   is shifted by d so that the discrete mean equals the continuous mean on the
   window. The rounding error Y - X then has mean 0 and lies in an interval of
   width h.
3. Compose T steps with one FFT power, on a circular window chosen so that the
   sum lies inside it except with a small probability (Chernoff bounds from
   Rényi DP).
4. Read epsilon from delta(eps) = E[(1 - exp(eps - S))_+].

Error bounds. By Hoeffding's inequality the summed rounding error exceeds
``eta = h * sqrt(T * log(1/delta_h) / 2)`` with probability at most delta_h.
With delta_err = delta_h + truncated and aliased mass, the true epsilon at delta
lies in [eps_disc(delta + delta_err) - eta, eps_disc(delta - delta_err) + eta].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import numpy as np
from scipy import fft
from scipy.special import ndtr

from . import gaussian

__all__ = [
    "Direction",
    "PldEpsilon",
    "clear_cache",
    "direction_epsilon",
    "subsampled_gaussian_pld_delta",
    "subsampled_gaussian_pld_epsilon",
]

# Largest FFT length. It caps the cost of one query (about 30 ms of CPU time at
# 2**18 on the benchmark machine), so many compositions get a wider error bound.
MAX_GRID = 2**18
# Epsilon error aimed for when the grid cap allows it.
TARGET_EPSILON_ERROR = 0.005


class Direction(str, Enum):
    """Direction of an add/remove pair in the privacy loss log(P/Q).

    ``REMOVE``: P is the output distribution with the record (the mixture), Q
    without it. ``ADD``: the reverse.
    """

    REMOVE = "remove"
    ADD = "add"


@dataclass(frozen=True)
class PldEpsilon:
    """Epsilon bounds from one direction's composed privacy loss distribution."""

    lower: float
    estimate: float
    upper: float
    grid_size: int


def _log1p_minus(q: float) -> float:
    """Return log(1 - q), which is -inf at q = 1."""
    return math.log1p(-q) if q < 1.0 else -math.inf


def _loss_quantile_point(direction: Direction, sigma: float, q: float, t: np.ndarray) -> np.ndarray:
    """Return the output x of the Gaussian step at which the privacy loss equals ``t``."""
    # Next to the support's end, expm1(t) + q can round to 0; x = -inf or +inf is then right.
    with np.errstate(divide="ignore", over="ignore"):
        if direction is Direction.REMOVE:
            return sigma**2 * (np.log(np.expm1(t) + q) - math.log(q)) + 0.5
        return sigma**2 * (np.log(np.expm1(-t) + q) - math.log(q)) + 0.5


def _loss_cdf(direction: Direction, sigma: float, q: float, t: np.ndarray, upper_tail: bool) -> np.ndarray:
    """Return the CDF of one step's privacy loss at ``t``, or its survival function if ``upper_tail``.

    Every ``t`` must lie strictly inside the support: above log(1 - q) for
    remove, below -log(1 - q) for add.
    """
    x = _loss_quantile_point(direction, sigma, q, t)
    if direction is Direction.REMOVE:
        # The loss grows with x, and x ~ (1-q) N(0, s^2) + q N(1, s^2).
        if upper_tail:
            return (1 - q) * ndtr(-x / sigma) + q * ndtr((1 - x) / sigma)
        return (1 - q) * ndtr(x / sigma) + q * ndtr((x - 1) / sigma)
    # The loss falls as x grows, and x ~ N(0, s^2).
    return ndtr(x / sigma) if upper_tail else ndtr(-x / sigma)


def _loss_cdf_and_survival(direction: Direction, sigma: float, q: float, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (CDF, survival function) at sorted points ``t``, each accurate where it is the smaller one.

    The CDF is computed below the median and the survival function above it, so
    tail masses keep their relative precision. The other array is 1 minus it.
    """
    if direction is Direction.REMOVE:
        first, last = int(np.searchsorted(t, _log1p_minus(q), side="right")), len(t)
    else:
        first, last = 0, int(np.searchsorted(t, -_log1p_minus(q), side="left"))
    middle = first + _median_index(direction, sigma, q, t[first:last])
    cdf = np.empty(len(t))
    survival = np.empty(len(t))
    cdf[:first], survival[:first] = 0.0, 1.0
    cdf[last:], survival[last:] = 1.0, 0.0
    cdf[first:middle] = _loss_cdf(direction, sigma, q, t[first:middle], upper_tail=False)
    survival[first:middle] = 1.0 - cdf[first:middle]
    survival[middle:last] = _loss_cdf(direction, sigma, q, t[middle:last], upper_tail=True)
    cdf[middle:last] = 1.0 - survival[middle:last]
    return cdf, survival


def _median_index(direction: Direction, sigma: float, q: float, core: np.ndarray) -> int:
    """Return the index of the first point of ``core`` where the CDF exceeds 1/2 (bisection)."""
    low, high = 0, len(core)
    while low < high:
        middle = (low + high) // 2
        value = _loss_cdf(direction, sigma, q, core[middle:middle + 1], upper_tail=False)[0]
        if value <= 0.5:
            low = middle + 1
        else:
            high = middle
    return low


def _tail_bounds(sigma: float, q: float, count: int, tail: float, direction: Direction) -> tuple[float, float]:
    """Return (left, right) with Pr[S < left] and Pr[S > right] each at most ``tail`` for the sum S of ``count`` losses.

    Chernoff bounds: Pr[S > t] <= exp((a-1) (count * D_a - t)) with the Rényi
    divergence D_a, and Pr[S < t] <= exp(count * (b-1) * D_b + b t) for b >= 1,
    where the Rényi bound of Mironov, Talwar and Zhang covers both directions.
    """
    orders, divergences = gaussian.rdp_orders_and_values(sigma, q)
    log_tail = math.log(tail)
    right = float(np.min(count * divergences - log_tail / (orders - 1)))
    left_candidates = -(count * (orders - 1) * divergences - log_tail) / orders
    left = max(log_tail, float(np.max(left_candidates)))
    if direction is Direction.REMOVE:
        left = max(left, count * _log1p_minus(q))
    else:
        right = min(right, -count * _log1p_minus(q))
    return left, right


def _discretise(direction: Direction, sigma: float, q: float, start: float, mesh: float, size: int):
    """Return (masses, shift, mass above the window, mass below the window) of one step's loss.

    Cell j is [start + (j - 1/2) mesh, start + (j + 1/2) mesh), and its mass
    goes to start + j mesh + shift. The shift makes the discrete mean equal the
    continuous mean of the loss restricted to the window.
    """
    edges = start - mesh / 2 + mesh * np.arange(size + 1)
    cdf, survival = _loss_cdf_and_survival(direction, sigma, q, edges)
    lower_half = cdf[1:] <= 0.5
    masses = np.where(lower_half, cdf[1:] - cdf[:-1], survival[:-1] - survival[1:])
    masses = np.maximum(masses, 0.0)
    inside = float(masses.sum())
    discrete_mean = float(np.dot(masses, edges[:-1] + mesh / 2))
    continuous_mean = _window_mean(direction, sigma, q, float(edges[0]), float(edges[-1]))
    shift = (continuous_mean - discrete_mean) / inside if inside > 0 else 0.0
    return masses, shift, float(survival[-1]), float(cdf[0])


def _output_at_loss(direction: Direction, sigma: float, q: float, loss: float) -> float:
    """Return the output x where one step's loss equals ``loss``, or -inf beyond the support's end."""
    if direction is Direction.REMOVE and loss <= _log1p_minus(q):
        return -math.inf
    if direction is Direction.ADD and loss >= -_log1p_minus(q):
        return -math.inf
    return float(_loss_quantile_point(direction, sigma, q, np.array([loss]))[0])


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)


def _window_mean(direction: Direction, sigma: float, q: float, low: float, high: float) -> float:
    """Return E[L 1{low <= L < high}] for one step's loss L, by quadrature over the Gaussian output x.

    In x the integrand is smooth, even where the loss distribution is a narrow
    spike next to log(1 - q) (small q), which a rule on the loss grid would miss.
    Gauss-Legendre with 16 nodes per panel, on panels narrower than the loss's
    bend (width sigma^2 around x = 1/2 + sigma^2 log((1-q)/q)).
    """
    reach = 40 * sigma + 1
    bounds = sorted(_output_at_loss(direction, sigma, q, edge) for edge in (low, high))
    x_low, x_high = max(bounds[0], -reach), min(bounds[1], reach)
    if x_low >= x_high:
        return 0.0
    panel = min(sigma, sigma**2) / 2
    count = int(math.ceil((x_high - x_low) / panel))
    left = x_low + (x_high - x_low) / count * np.arange(count)
    half = (x_high - x_low) / count / 2
    x = (left[:, None] + half * (_NODES[None, :] + 1)).ravel()
    weights = np.tile(half * _WEIGHTS, count)

    loss = np.logaddexp(_log1p_minus(q), math.log(q) + (2 * x - 1) / (2 * sigma**2))
    null = np.exp(-0.5 * (x / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    if direction is Direction.ADD:
        return float(np.dot(weights, -loss * null))
    shifted = np.exp(-0.5 * ((x - 1) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return float(np.dot(weights, loss * ((1 - q) * null + q * shifted)))


def _power(spectrum: np.ndarray, count: int) -> np.ndarray:
    """Return ``spectrum ** count`` elementwise by repeated squaring, in place where possible."""
    result = None
    base = spectrum.copy()
    while True:
        if count & 1:
            if result is None:
                result = base.copy()
            else:
                np.multiply(result, base, out=result)
        count >>= 1
        if not count:
            return result
        np.multiply(base, base, out=base)


class _ComposedLoss:
    """The discrete privacy loss of T composed steps, restricted to losses above 0.

    Point i is at ``start + i * mesh``. Suffix sums make delta(eps) =
    m_inf + sum over v > eps of f(v) (1 - exp(eps - v)) cost O(1) for any eps,
    and its inverse a binary search.
    """

    def __init__(self, start: float, mesh: float, pmf: np.ndarray, infinity_mass: float) -> None:
        self.start = start
        self.mesh = mesh
        self.size = len(pmf)
        self.infinity_mass = infinity_mass
        values = start + mesh * np.arange(self.size)
        self.tail_mass = np.cumsum(pmf[::-1])[::-1]
        self.tail_weighted = np.cumsum((pmf * np.exp(-values))[::-1])[::-1]

    def _value(self, index: int) -> float:
        return self.start + self.mesh * index

    def _delta_above(self, index: int, epsilon: float) -> float:
        """Return delta(epsilon) counting the points from ``index`` on, all of which must lie above epsilon."""
        if index >= self.size:
            return self.infinity_mass
        weighted = self.tail_weighted[index]
        scaled = math.exp(epsilon + math.log(weighted)) if weighted > 0 else 0.0
        return self.infinity_mass + self.tail_mass[index] - scaled

    def delta(self, epsilon: float) -> float:
        """Return delta(epsilon) of the discrete loss, for epsilon >= 0."""
        index = max(0, int(math.floor((epsilon - self.start) / self.mesh)) + 1)
        while index > 0 and self._value(index - 1) > epsilon:
            index -= 1
        while index < self.size and self._value(index) <= epsilon:
            index += 1
        return min(1.0, max(0.0, self._delta_above(index, epsilon)))

    def epsilon(self, delta: float) -> float:
        """Return the smallest epsilon >= 0 with delta(eps) <= ``delta``."""
        if self.infinity_mass >= delta:
            return math.inf
        # delta at grid value v_i, from the points above it, falls with i: find the first one <= delta.
        low, high = 0, self.size
        while low < high:
            middle = (low + high) // 2
            if self._delta_above(middle + 1, self._value(middle)) <= delta:
                high = middle
            else:
                low = middle + 1
        if low >= self.size:
            return math.inf
        numerator = self.infinity_mass + self.tail_mass[low] - delta
        if numerator <= 0 or self.tail_weighted[low] <= 0:
            return self._value(low)
        return max(0.0, math.log(numerator) - math.log(self.tail_weighted[low]))


# Each entry keeps two arrays of up to MAX_GRID floats (about 4 MiB), so the cache stays small.
@lru_cache(maxsize=32)
def _composed(
    direction: Direction, sigma: float, q: float, count: int, delta: float, max_grid: int
) -> tuple[_ComposedLoss, float, float, int]:
    """Return the composed loss, the epsilon error eta, the delta slack and the grid size."""
    error_delta = delta / 1000
    tail = error_delta / 8
    single_left, single_right = _tail_bounds(sigma, q, 1, tail / count, direction)
    sum_left, sum_right = _tail_bounds(sigma, q, count, tail, direction)
    spread = math.sqrt(count * math.log(8 / error_delta) / 2)

    width = max(single_right - single_left, sum_right - sum_left) + 2.0
    size = fft.next_fast_len(int(math.ceil(width * spread / TARGET_EPSILON_ERROR)) + 2, real=True)
    size = min(size, max_grid)
    size += size % 2
    mesh = width / (size - 2)
    eta = mesh * spread
    # Widen the composed window by the rounding error so that the discrete sum stays inside.
    window = size * mesh
    window_left = min(sum_left - eta - mesh, sum_right + eta + mesh - window)

    # One step's loss lies in [single_left, single_right] but for rare events, so
    # only those cells are computed, and the rest of the circular grid is zero.
    cells = min(size, 2 * int(math.ceil((single_right - single_left) / mesh / 2)) + 2)
    masses, shift, mass_above, mass_below = _discretise(direction, sigma, q, single_left, mesh, cells)
    composed = fft.irfft(_power(fft.rfft(masses, n=size), count), n=size)
    # Entry k of the circular result is the mass at count*(start + shift) + k*mesh, modulo the window.
    offset = (count * (single_left + shift) - window_left) % window
    first = int(math.ceil((window - offset) / mesh - 1e-9)) % size
    start = window_left + ((offset + first * mesh) % window)
    positive_start, positive = _positive_part(composed, first, start, mesh)

    infinity_mass = -math.expm1(count * math.log1p(-mass_above)) if mass_above < 1 else 1.0
    # Negative entries are floating-point noise of the FFT; their size estimates the noise elsewhere.
    noise = max(0.0, -float(composed.min()))
    slack = 2 * tail + count * mass_below + size * noise + error_delta / 2
    return _ComposedLoss(positive_start, mesh, np.maximum(positive, 0.0), infinity_mass), eta, slack, size


def _positive_part(composed: np.ndarray, first: int, start: float, mesh: float) -> tuple[float, np.ndarray]:
    """Return (first value, masses) of the circular result above 0, in increasing order of value.

    Entry ``first`` is at the smallest value ``start``, and the values rise by
    ``mesh`` from there around the circle.
    """
    size = len(composed)
    skip = int(math.floor(-start / mesh)) + 1 if start <= 0 else 0
    if skip >= size:
        return 0.0, np.empty(0)
    begin = (first + skip) % size
    if begin >= first:
        masses = np.concatenate([composed[begin:], composed[:first]])
    else:
        masses = composed[begin:first]
    return start + mesh * skip, masses


def direction_epsilon(
    direction: Direction, sigma: float, q: float, count: int, delta: float, max_grid: int = MAX_GRID
) -> PldEpsilon:
    """Return epsilon bounds at ``delta`` for ``count`` subsampled Gaussian steps in one direction."""
    composed, eta, slack, size = _composed(direction, sigma, q, count, delta, max_grid)
    estimate = composed.epsilon(delta)
    upper = composed.epsilon(delta - slack) + eta if slack < delta else math.inf
    lower = max(0.0, composed.epsilon(delta + slack) - eta)
    return PldEpsilon(min(lower, estimate), estimate, max(upper, estimate), size)


# Grids of the cheap looks at the add direction, coarse to fine.
_SCREENING_GRIDS = (2**12, 2**15)


def subsampled_gaussian_pld_epsilon(sigma: float, q: float, count: int, delta: float) -> PldEpsilon:
    """Return epsilon bounds for ``count`` Poisson-subsampled Gaussian steps under add/remove.

    The result is the larger of the two directions. The add direction's loss is
    at most -log(1 - q) per step, and it is computed on a fine grid only when
    neither that limit nor a coarse grid's upper bound shows it below the
    remove direction's lower bound.
    """
    remove = direction_epsilon(Direction.REMOVE, sigma, q, count, delta)
    if -count * _log1p_minus(q) <= remove.lower:
        return remove
    for grid in _SCREENING_GRIDS:
        if direction_epsilon(Direction.ADD, sigma, q, count, delta, grid).upper <= remove.lower:
            return remove
    add = direction_epsilon(Direction.ADD, sigma, q, count, delta)
    return PldEpsilon(
        max(remove.lower, add.lower),
        max(remove.estimate, add.estimate),
        max(remove.upper, add.upper),
        max(remove.grid_size, add.grid_size),
    )


# Delta at which the grid of a whole delta(epsilon) curve is built: its tails are then below 1e-13.
_CURVE_DELTA = 1e-10


def subsampled_gaussian_pld_delta(sigma: float, q: float, count: int, epsilons: np.ndarray) -> np.ndarray:
    """Return the estimated delta(epsilon) of ``count`` subsampled Gaussian steps, the larger of both directions."""
    curves = []
    for direction in Direction:
        composed = _composed(direction, sigma, q, count, _CURVE_DELTA, MAX_GRID)[0]
        curves.append([composed.delta(max(0.0, float(value))) for value in epsilons])
    return np.max(np.array(curves), axis=0)


def clear_cache() -> None:
    """Forget this module's cached results."""
    _composed.cache_clear()
