"""The computations that the walkthrough notebooks show, as tested functions.

Each notebook wires widgets and plots around these functions, so that what a
reader sees is what the test suite checks. They follow the notebooks' order:
prompts of one token step, the per-split and merged distributions of that step
and of its neighbouring dataset, the noisy selection, the accounting of a run,
and tables for display.

Privacy: these functions return what the mechanism keeps secret (the split
prompts, the split distributions, the noise). Use them on the bundled,
fictional demo data, or other data that is not private, and never on real
records: showing or storing these values for real data voids the guarantee.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.integrate import trapezoid
from scipy.special import log_ndtr
from scipy.stats import binom

from .accounting import EpsilonBounds, default_delta, epsilon, epsilon_curve, sample_rate, llamaindex_pack_sigma_to_eps
from .data import Example, group_by_label, load_demo
from .distributions import TokenUniverse, merge, split_distribution, token_universe
from .generation import run_sync, step_prompts
from .mechanisms import (
    exponential_noisy_argmax,
    gaussian_noise,
    gaussian_noise_std,
    gaussian_noisy_argmax,
    selection_probabilities_exponential,
)
from .models import NextTokenModel
from .prompts import PromptBundle, prepare_texts
from .sampling import draw_splits, poisson_splits, validate_split_shape

__all__ = [
    "NeighbouringSteps",
    "RunEpsilon",
    "SeedPackStep",
    "SplitSizes",
    "StepDistributions",
    "StepPrompts",
    "demo_pools",
    "display_token",
    "draw_step_prompts",
    "epsilon_against_delta",
    "epsilon_against_tokens",
    "expected_split_sizes",
    "first_seed_including_appended",
    "format_step_prompts",
    "l2_sensitivity",
    "markdown_table",
    "max_log_ratio",
    "measured_split_sizes",
    "neighbouring_steps",
    "noisy_vectors",
    "run_epsilon",
    "llamaindex_pack_steps",
    "selection_frequencies",
    "selection_probabilities",
    "side_by_side",
    "split_table",
    "step_distributions",
]

MECHANISMS = ("gaussian", "exponential")


def _check_mechanism(mechanism: str) -> None:
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism={mechanism!r} is invalid: use 'gaussian' or 'exponential'.")


# Prompts -------------------------------------------------------------------


def demo_pools(bundle: PromptBundle = PromptBundle()) -> dict[str, list[str]]:
    """Return the bundled demo texts by label, labels sorted, prepared as prompts need them."""
    records = load_demo()
    texts = prepare_texts((record.text for record in records), bundle)
    return group_by_label(Example(text, record.label) for text, record in zip(texts, records))


@dataclass(frozen=True)
class StepPrompts:
    """The prompts of one token step.

    Attributes
    ----------
    label
        The label of the example being generated.
    prefix
        The text generated so far; public, because the mechanism released it.
    splits
        The record indices (into the label's pool) of each split, in split order.
    public
        The zero-shot prompt, which contains no private record.
    private
        One few-shot prompt per split, in split order.
    """

    label: str
    prefix: str
    splits: tuple[tuple[int, ...], ...]
    public: str
    private: tuple[str, ...]

    @property
    def prompts(self) -> list[str]:
        """The public prompt followed by the split prompts: one model call's batch."""
        return [self.public, *self.private]


def _step_from_splits(
    pool: Sequence[str], label: str, splits: Sequence[np.ndarray], prefix: str, bundle: PromptBundle
) -> StepPrompts:
    prompts = step_prompts(bundle, pool, label, prefix, splits)
    indices = tuple(tuple(int(index) for index in members) for members in splits)
    return StepPrompts(label, prefix, indices, prompts[0], tuple(prompts[1:]))


def draw_step_prompts(
    pool: Sequence[str],
    label: str,
    num_splits: int,
    shots: int,
    rng: np.random.Generator,
    *,
    prefix: str = "",
    bundle: PromptBundle = PromptBundle(),
    sampling: str = "poisson",
) -> StepPrompts:
    """Draw the splits of one token step from ``pool`` and build its prompts."""
    splits = draw_splits(sampling, len(pool), num_splits, shots, rng)
    return _step_from_splits(pool, label, splits, prefix, bundle)


def format_step_prompts(step: StepPrompts) -> str:
    """Return the step's prompts as one text, each under a header naming its records (1-based)."""
    parts = [f"=== public prompt (no records) ===\n{step.public}"]
    for number, (members, prompt) in enumerate(zip(step.splits, step.private), start=1):
        records = ", ".join(str(index + 1) for index in members) or "none"
        parts.append(f"=== split {number} (records: {records}) ===\n{prompt}")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class SplitSizes:
    """The sizes of the splits that Poisson sampling draws.

    Attributes
    ----------
    mean_shots
        Mean number of records in one split (at most ``shots``).
    empty_fraction
        Fraction of splits without a record. The prompt of such a split is the public prompt.
    """

    mean_shots: float
    empty_fraction: float

    def __str__(self) -> str:
        return f"{self.mean_shots:.3f} records per split, {self.empty_fraction:.1%} of splits empty"


def expected_split_sizes(pool_size: int, num_splits: int, shots: int) -> SplitSizes:
    """Return the exact expected split sizes of :func:`dpsynth.sampling.poisson_splits`.

    A record joins a given split with probability ``q / M = N / n``, so the
    split receives ``X ~ Binomial(n, N / n)`` records and keeps ``min(X, N)``.
    """
    validate_split_shape(pool_size, num_splits, shots)
    counts = np.arange(pool_size + 1)
    weights = binom.pmf(counts, pool_size, shots / pool_size)
    return SplitSizes(float(np.minimum(counts, shots) @ weights), float(weights[0]))


def measured_split_sizes(
    pool_size: int, num_splits: int, shots: int, draws: int, rng: np.random.Generator
) -> SplitSizes:
    """Measure the split sizes of ``draws`` token steps of Poisson sampling."""
    sizes = np.array(
        [[len(members) for members in poisson_splits(pool_size, num_splits, shots, rng)] for _ in range(draws)]
    )
    return SplitSizes(float(sizes.mean()), float((sizes == 0).mean()))


# Distributions -----------------------------------------------------------


@dataclass(frozen=True)
class StepDistributions:
    """The next-token distributions of one token step.

    Attributes
    ----------
    universe
        The public prompt's top-k tokens ``U`` and their renormalised probabilities ``p0``.
    split_vectors
        Array of shape ``(M, |U|)``: each split's distribution restricted to ``U``
        and renormalised over it.
    fallbacks
        For each split, whether it returned no token of ``U`` and votes with ``p0``.
    merged
        The mean of the split vectors, ``p = (1/M) * sum_j p_j``.
    """

    universe: TokenUniverse
    split_vectors: np.ndarray
    fallbacks: tuple[bool, ...]
    merged: np.ndarray

    @property
    def tokens(self) -> tuple[str, ...]:
        """The tokens of ``U``, most probable under ``p0`` first."""
        return self.universe.tokens

    def noiseless_choice(self) -> str:
        """Return the token with the largest merged probability: the argmax without noise."""
        return self.tokens[int(np.argmax(self.merged))]


def step_distributions(model: NextTokenModel, step: StepPrompts, top_k: int) -> StepDistributions:
    """Query ``model`` for the step's prompts and build the universe, split vectors and merge."""
    responses = run_sync(lambda: model.top_logprobs(step.prompts, top_k))
    universe = token_universe(responses[0])
    pairs = [split_distribution(logprobs, universe) for logprobs in responses[1:]]
    vectors = np.array([vector for vector, _ in pairs])
    return StepDistributions(universe, vectors, tuple(bool(used) for _, used in pairs), merge(vectors))


def l2_sensitivity(num_splits: int) -> float:
    """Return ``sqrt(2) / M``, the most one record can move the merged vector in L2 norm."""
    if isinstance(num_splits, bool) or not isinstance(num_splits, (int, np.integer)) or num_splits < 1:
        raise ValueError(f"num_splits={num_splits!r} is invalid: give a whole number, 1 or more.")
    return math.sqrt(2.0) / num_splits


@dataclass(frozen=True)
class NeighbouringSteps:
    """One token step on two neighbouring datasets: the pool with and without one record.

    Both steps use the same generator seed and the same sampling rate, so every
    other record lands in the same split, and at most one split differs.

    Attributes
    ----------
    with_record, without_record
        The step's distributions on the pool with the record appended, and on the pool alone.
    record_split
        The 0-based split that contains the record, or None when the record was not sampled.
    """

    with_record: StepDistributions
    without_record: StepDistributions
    record_split: int | None

    @property
    def shift(self) -> np.ndarray:
        """The change of the merged vector that the record causes."""
        return self.with_record.merged - self.without_record.merged

    @property
    def shift_l2(self) -> float:
        """The L2 norm of :attr:`shift`, at most :attr:`sensitivity`."""
        return float(np.linalg.norm(self.shift))

    @property
    def sensitivity(self) -> float:
        """The bound ``sqrt(2) / M`` on :attr:`shift_l2`."""
        return l2_sensitivity(len(self.with_record.split_vectors))


def _neighbouring_splits(
    pool_size: int, num_splits: int, shots: int, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    # The same rate for both datasets: the accountant treats q as public and fixed.
    rate = num_splits * shots / pool_size
    larger = poisson_splits(pool_size + 1, num_splits, shots, np.random.default_rng(seed), rate=rate)
    smaller = poisson_splits(pool_size, num_splits, shots, np.random.default_rng(seed), rate=rate)
    return larger, smaller


def first_seed_including_appended(pool_size: int, num_splits: int, shots: int, start: int = 0) -> int:
    """Return the first seed from ``start`` at which a record appended to the pool is sampled.

    The record is sampled with probability at most ``q = M * N / n`` at each seed;
    at the other seeds it changes nothing. The search stops after 100,000 seeds.
    """
    for seed in range(start, start + 100_000):
        larger, _ = _neighbouring_splits(pool_size, num_splits, shots, seed)
        if any(pool_size in members for members in larger):
            return seed
    raise ValueError(
        f"no seed from {start} to {start + 99_999} samples the appended record: the sampling rate "
        f"{num_splits * shots / pool_size:.3g} is too small; raise num_splits or shots."
    )


def neighbouring_steps(
    model: NextTokenModel,
    pool: Sequence[str],
    record: str,
    label: str,
    num_splits: int,
    shots: int,
    seed: int,
    *,
    prefix: str = "",
    top_k: int = 5,
    bundle: PromptBundle = PromptBundle(),
) -> NeighbouringSteps:
    """Run one token step without noise on ``pool`` and on ``pool`` with ``record`` appended.

    Parameters
    ----------
    record
        The extra record's text, prepared as :func:`dpsynth.prompts.prepare_texts` returns it.
    seed
        Seed of both steps' sampling; :func:`first_seed_including_appended` finds one
        at which the record is sampled.
    """
    larger_pool = [*pool, record]
    larger, smaller = _neighbouring_splits(len(pool), num_splits, shots, seed)
    with_record = step_distributions(model, _step_from_splits(larger_pool, label, larger, prefix, bundle), top_k)
    without_record = step_distributions(model, _step_from_splits(pool, label, smaller, prefix, bundle), top_k)
    holder = [split for split, members in enumerate(larger) if len(pool) in members]
    return NeighbouringSteps(with_record, without_record, holder[0] if holder else None)


# Noisy selection ---------------------------------------------------------


def noisy_vectors(
    merged: np.ndarray, sigma: float, num_splits: int, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Return ``count`` noisy copies of the merged vector, shape ``(count, |U|)``, as the Gaussian mechanism draws them."""
    merged = np.asarray(merged, dtype=float)
    return merged + gaussian_noise((count, merged.size), sigma, num_splits, rng)


def selection_frequencies(
    merged: np.ndarray,
    noise: float,
    num_splits: int,
    draws: int,
    rng: np.random.Generator,
    mechanism: str = "gaussian",
) -> np.ndarray:
    """Return how often each token wins in ``draws`` independent noisy selections.

    ``noise`` is sigma for the Gaussian mechanism and the per-token epsilon ``eps0``
    for the exponential mechanism.
    """
    _check_mechanism(mechanism)
    merged = np.asarray(merged, dtype=float)
    batch = np.broadcast_to(merged, (draws, merged.size))
    if mechanism == "gaussian":
        chosen = gaussian_noisy_argmax(batch, noise, num_splits, rng)
    else:
        chosen = exponential_noisy_argmax(batch, noise, num_splits, rng)
    return np.bincount(chosen, minlength=merged.size) / draws


_GRID_STEP = 0.005
_GRID_REACH = 12.0
_GRID_MAX_GAP = 40.0


def _gaussian_argmax_probabilities(merged: np.ndarray, std: float) -> np.ndarray:
    # Token u wins when Z_v < (p_u - p_v) / s + Z_u for every v, so integrate over Z_u = z.
    # A token behind by a gap g (in units of s) wins only for z above about g, so the grid
    # reaches 12 past the largest gap. Beyond a gap of 40 the probability underflows anyway.
    gaps = (merged[:, None] - merged[None, :]) / std
    largest_gap = min(max(float(-gaps.min()), 0.0), _GRID_MAX_GAP)
    grid = np.arange(-_GRID_REACH, _GRID_REACH + largest_gap + _GRID_STEP / 2, _GRID_STEP)
    log_cdf = log_ndtr(gaps[:, :, None] + grid[None, None, :])
    log_cdf[np.arange(merged.size), np.arange(merged.size), :] = 0.0
    density = np.exp(log_cdf.sum(axis=1) - 0.5 * grid**2) / math.sqrt(2.0 * math.pi)
    probabilities = trapezoid(density, grid, axis=1)
    return probabilities / probabilities.sum()


def selection_probabilities(
    merged: np.ndarray, noise: float, num_splits: int, mechanism: str = "gaussian"
) -> np.ndarray:
    """Return the probability that each token is selected.

    Exponential mechanism: exactly ``softmax((eps0 * M / 2) * p)``. Gaussian noisy
    argmax: ``P(u) = E_z[prod_{v != u} Phi((p_u - p_v) / s + z)]`` with
    ``s = sigma * sqrt(2) / M`` and ``z ~ N(0, 1)``, by the trapezoidal rule with
    step 0.005 on a grid that covers every token's winning region. Probabilities
    below about 1e-300 underflow to 0.
    """
    _check_mechanism(mechanism)
    merged = np.asarray(merged, dtype=float)
    if mechanism == "exponential":
        return selection_probabilities_exponential(merged, noise, num_splits)
    return _gaussian_argmax_probabilities(merged, gaussian_noise_std(noise, num_splits))


def max_log_ratio(first: np.ndarray, second: np.ndarray) -> float:
    """Return ``max_u |log first_u - log second_u|``, the largest privacy loss of one observed selection."""
    first = np.asarray(first, dtype=float)
    second = np.asarray(second, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.abs(np.log(first) - np.log(second))
    both_zero = (first == 0) & (second == 0)
    return float(np.max(np.where(both_zero, 0.0, ratios)))


# Accounting --------------------------------------------------------------


@dataclass(frozen=True)
class RunEpsilon:
    """The worst-case epsilon of one label's generations.

    Attributes
    ----------
    sample_rate
        ``q = M * N / n``, the Poisson rate of each token step.
    compositions
        ``examples * t_max``: every example reaching ``t_max`` tokens.
    epsilon
        The accountant's epsilon with its bounds.
    """

    sample_rate: float
    compositions: int
    epsilon: EpsilonBounds


def run_epsilon(
    noise: float,
    t_max: int,
    examples: int,
    num_splits: int,
    shots: int,
    pool_size: int,
    delta: float,
    mechanism: str = "gaussian",
) -> RunEpsilon:
    """Account the worst case of generating ``examples`` examples of one label.

    Raises
    ------
    ValueError
        When the pool is smaller than ``num_splits * shots``, or another argument is invalid.
    """
    rate = sample_rate(num_splits, shots, pool_size)
    compositions = examples * t_max
    return RunEpsilon(rate, compositions, epsilon(mechanism, noise, rate, compositions, delta))


def epsilon_against_tokens(
    noise: float, rate: float, delta: float, max_tokens: int, points: int = 8, mechanism: str = "gaussian"
) -> tuple[np.ndarray, np.ndarray]:
    """Return token counts from 1 to ``max_tokens``, spaced geometrically, and epsilon at each.

    Returns
    -------
    numpy.ndarray
        The distinct token counts, at most ``points`` of them.
    numpy.ndarray
        Shape ``(len(counts), 3)``: lower bound, estimate and upper bound of epsilon.
    """
    counts = np.unique(np.geomspace(1, max_tokens, points).round().astype(int))
    return counts, epsilon_curve(mechanism, noise, rate, counts.tolist(), delta)


def epsilon_against_delta(
    noise: float, rate: float, compositions: int, deltas: Sequence[float], mechanism: str = "gaussian"
) -> np.ndarray:
    """Return the epsilon estimate at each of ``deltas``: the privacy profile, traced point by point."""
    return np.array([epsilon(mechanism, noise, rate, compositions, float(delta)).estimate for delta in deltas])


@dataclass(frozen=True)
class SeedPackStep:
    """One row of the walk from the LlamaIndex pack's epsilon to dpsynth's.

    Attributes
    ----------
    change
        What this row changes compared with the row before.
    sample_rate, compositions, delta
        The accountant's inputs in this row (the largest over labels, where they differ).
    estimate
        The epsilon estimate, or None where the pack raises an error.
    upper
        The epsilon upper bound, or None where the accountant reports none (the pack).
    """

    change: str
    sample_rate: float
    compositions: int
    delta: float
    estimate: float | None
    upper: float | None


def llamaindex_pack_steps(
    noise: float,
    sizes: Mapping[str, int],
    t_max: int,
    pool_sizes: Mapping[str, int],
    num_splits: int,
    shots: int,
    mechanism: str = "gaussian",
) -> list[SeedPackStep]:
    """Walk from the pack's ``sigma_to_eps`` to dpsynth's worst-case epsilon, one difference per row.

    Row 1 is what the pack reports. Row 2 feeds the pack's inputs to dpsynth's
    accountant. Rows 3 to 5 each replace one input: the sampling rate of a
    step, the number of noisy selections of a label, and delta. Rows 3 to 5
    take the label with the largest epsilon, as the dataset's epsilon does.
    """
    _check_mechanism(mechanism)
    n_total = sum(pool_sizes.values())
    size = sum(sizes.values())
    pack_rate = size / n_total
    pack_delta = 1.0 / n_total
    rows = [
        SeedPackStep(
            "the pack's sigma_to_eps", pack_rate, t_max, pack_delta,
            llamaindex_pack_sigma_to_eps(noise, mechanism, size, t_max, n_total), None,
        )
    ]
    same = epsilon(mechanism, noise, pack_rate, t_max, pack_delta)
    rows.append(SeedPackStep("the same inputs, dpsynth's accountant", pack_rate, t_max, pack_delta, same.estimate, same.upper))

    labels = [label for label, size_of_label in sizes.items() if size_of_label]
    rates = {label: sample_rate(num_splits, shots, pool_sizes[label]) for label in labels}
    stages = [
        ("q = M*N/n of the label's pool", lambda label: (rates[label], t_max, pack_delta)),
        ("T = examples * t_max of the label", lambda label: (rates[label], sizes[label] * t_max, pack_delta)),
        ("delta well below 1/n", lambda label: (rates[label], sizes[label] * t_max, default_delta(n_total))),
    ]
    for change, inputs in stages:
        results = [(inputs(label), epsilon(mechanism, noise, *inputs(label))) for label in labels]
        (rate, compositions, delta), worst = max(results, key=lambda item: item[1].upper)
        rows.append(SeedPackStep(change, rate, compositions, delta, worst.estimate, worst.upper))
    return rows


# Display -----------------------------------------------------------------


def display_token(token: str) -> str:
    """Return ``token`` with its leading space shown as ``␣`` and a newline as ``\\n``."""
    return token.replace(" ", "␣").replace("\n", "\\n")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Return a Markdown table; a ``|`` in a cell is escaped, floats are written with 4 significant digits."""

    def cell(value: object) -> str:
        text = f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def split_table(step: StepPrompts, distributions: StepDistributions) -> str:
    """Return a Markdown table of each split's records (1-based), vector over ``U`` and fallback flag."""
    headers = ["split", "records", *map(display_token, distributions.tokens), "fallback"]
    rows = []
    for number, (members, vector, fallback) in enumerate(
        zip(step.splits, distributions.split_vectors, distributions.fallbacks), start=1
    ):
        records = ", ".join(str(index + 1) for index in members) or "none"
        rows.append((number, records, *(float(value) for value in vector), "yes" if fallback else "no"))
    return markdown_table(headers, rows)


def side_by_side(
    real: Sequence[Example], synthetic: Sequence[Example], per_label: int
) -> list[tuple[str, str, str]]:
    """Pair the first ``per_label`` real and synthetic texts of each synthetic label.

    Returns ``(label, real text, synthetic text)`` rows in the synthetic data's
    label order; a side with fewer texts gets ``""``.
    """
    real_pools = group_by_label(real)
    synthetic_pools: dict[str, list[str]] = {}
    for example in synthetic:
        synthetic_pools.setdefault(example.label, []).append(example.text)
    rows = []
    for label, texts in synthetic_pools.items():
        originals = real_pools.get(label, [])
        for index in range(per_label):
            rows.append((
                label,
                originals[index] if index < len(originals) else "",
                texts[index] if index < len(texts) else "",
            ))
    return rows
