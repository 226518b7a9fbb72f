"""Figures for the walkthrough notebooks.

Each function takes the numbers that :mod:`dpsynth.walkthrough` computes and
returns a :class:`matplotlib.figure.Figure` built without pyplot, so that no
global figure state builds up and a notebook shows the figure once, as the
value of its cell. Tokens on the axes are written with
:func:`dpsynth.walkthrough.display_token`, so a leading space shows as ``␣``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from .walkthrough import display_token

__all__ = [
    "plot_audit_bounds",
    "plot_audit_scores",
    "plot_delta_curve",
    "plot_epsilon_against_sigma",
    "plot_epsilon_against_tokens",
    "plot_merge_shift",
    "plot_noisy_selection",
    "plot_split_distributions",
]

_WIDE = (9.0, 3.6)
_NARROW = (6.0, 3.6)
# A fixed resolution keeps a figure's text form ("<Figure size 900x360 ...>"), which
# nbval compares, independent of the rc settings of the notebook's plotting backend.
_DPI = 100


def _token_axis(ax, tokens: Sequence[str]) -> np.ndarray:
    positions = np.arange(len(tokens))
    ax.set_xticks(positions, [display_token(token) for token in tokens])
    ax.set_xlabel("token of the universe U")
    return positions


def _plain_log_x(ax) -> None:
    # Ticks at 1, 2 and 5 times powers of ten, written as plain numbers such as 0.5.
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_split_distributions(tokens: Sequence[str], split_vectors: np.ndarray, merged: np.ndarray) -> Figure:
    """Plot each split's probability vector as thin bars and the merged vector as wide outlined bars."""
    split_vectors = np.asarray(split_vectors, dtype=float)
    figure = Figure(figsize=_WIDE, dpi=_DPI, layout="constrained")
    ax = figure.subplots()
    positions = _token_axis(ax, tokens)
    count = len(split_vectors)
    width = 0.8 / count
    for index, vector in enumerate(split_vectors):
        offsets = positions - 0.4 + (index + 0.5) * width
        ax.bar(offsets, vector, width=width, color=f"C{index % 10}", alpha=0.6, label=f"split {index + 1}")
    ax.bar(positions, merged, width=0.85, fill=False, edgecolor="black", linewidth=2, label="merged")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    ax.set_title(f"Next-token distributions of {count} splits and their mean")
    ax.legend(ncols=2 if count > 6 else 1, fontsize="small", loc="upper right")
    return figure


def plot_merge_shift(
    tokens: Sequence[str],
    without_record: np.ndarray,
    with_record: np.ndarray,
    shift_l2: float,
    sensitivity: float,
) -> Figure:
    """Plot the merged vector with and without one record, and the L2 shift beside its bound."""
    figure = Figure(figsize=_WIDE, dpi=_DPI, layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=(3, 1))
    positions = _token_axis(left, tokens)
    left.bar(positions - 0.2, without_record, width=0.4, label="without the record")
    left.bar(positions + 0.2, with_record, width=0.4, label="with the record")
    left.set_ylabel("merged probability")
    left.set_ylim(0, 1)
    left.legend(loc="upper right")
    left.set_title("The merged vector on neighbouring datasets")
    right.bar([0, 1], [shift_l2, sensitivity], color=["C1", "0.6"])
    right.set_xticks([0, 1], ["shift", "sqrt(2)/M"])
    right.set_ylabel("L2 norm")
    right.set_title("Shift and its bound")
    return figure


def plot_noisy_selection(
    tokens: Sequence[str],
    merged: np.ndarray,
    noisy: np.ndarray,
    frequencies: np.ndarray,
    probabilities: np.ndarray,
) -> Figure:
    """Plot noisy copies of the merged vector, and the measured selection frequencies beside the exact probabilities."""
    noisy = np.asarray(noisy, dtype=float)
    figure = Figure(figsize=_WIDE, dpi=_DPI, layout="constrained")
    left, right = figure.subplots(1, 2)
    positions = _token_axis(left, tokens)
    left.bar(positions, merged, width=0.6, color="0.8", label="merged p")
    jitter = np.linspace(-0.25, 0.25, len(noisy)) if len(noisy) > 1 else np.zeros(1)
    for offset, vector in zip(jitter, noisy):
        left.plot(positions + offset, vector, linestyle="none", marker=".", color="C0")
    winners = np.argmax(noisy, axis=1)
    left.plot(
        positions[winners] + jitter, noisy[np.arange(len(noisy)), winners],
        linestyle="none", marker="o", markerfacecolor="none", color="C3", label="winner of a draw",
    )
    left.axhline(0, color="black", linewidth=0.5)
    left.set_ylabel("p + noise")
    left.set_title(f"{len(noisy)} noisy copies of p")
    left.legend(loc="upper right", fontsize="small")

    _token_axis(right, tokens)
    right.bar(positions, frequencies, width=0.6, label="measured frequency")
    right.plot(positions, probabilities, linestyle="none", marker="D", color="black", label="exact probability")
    right.set_ylim(0, 1)
    right.set_ylabel("selection probability")
    right.set_title("How often each token is selected")
    right.legend(loc="upper right", fontsize="small")
    return figure


def plot_epsilon_against_tokens(
    counts: Sequence[int], curve: np.ndarray, basic_per_token: float | None = None
) -> Figure:
    """Plot epsilon (estimate, with its bounds as a band) against the number of tokens generated.

    ``basic_per_token`` adds basic composition, ``T`` times one step's epsilon, for comparison.
    """
    curve = np.asarray(curve, dtype=float)
    counts = np.asarray(counts)
    figure = Figure(figsize=_NARROW, dpi=_DPI, layout="constrained")
    ax = figure.subplots()
    ax.fill_between(counts, curve[:, 0], curve[:, 2], color="C0", alpha=0.3, label="bounds")
    ax.plot(counts, curve[:, 1], marker="o", color="C0", label="accountant's estimate")
    if basic_per_token is not None:
        ax.plot(counts, counts * basic_per_token, linestyle="--", color="0.4", label="T x epsilon of one token")
        ax.set_ylim(0, 1.1 * curve[:, 2].max())
    ax.set_xlabel("noisy selections T (tokens generated for the label)")
    ax.set_ylabel("epsilon")
    ax.set_title("Epsilon grows with every token")
    ax.legend(loc="upper left")
    return figure


def plot_epsilon_against_sigma(sigmas: Sequence[float], epsilons: Sequence[float], delta: float) -> Figure:
    """Plot epsilon at ``delta`` against the noise multiplier sigma."""
    figure = Figure(figsize=_NARROW, dpi=_DPI, layout="constrained")
    ax = figure.subplots()
    ax.plot(sigmas, epsilons, marker="o")
    _plain_log_x(ax)
    ax.set_yscale("log")
    ax.set_xlabel("noise multiplier sigma")
    ax.set_ylabel(f"epsilon at delta = {delta:.0e}")
    ax.set_title("More noise, less privacy loss")
    return figure


def plot_delta_curve(epsilons: Sequence[float], deltas: Sequence[float], marks: dict[str, float] | None = None) -> Figure:
    """Plot the privacy profile delta(epsilon) on a log scale, with horizontal lines at ``marks``."""
    figure = Figure(figsize=_NARROW, dpi=_DPI, layout="constrained")
    ax = figure.subplots()
    ax.plot(epsilons, deltas, marker="o", label="delta(epsilon)")
    for index, (name, value) in enumerate((marks or {}).items()):
        ax.axhline(value, linestyle="--", color=f"C{index + 1}", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epsilon")
    ax.set_ylabel("delta")
    ax.set_title("One run, many (epsilon, delta) guarantees")
    ax.legend(loc="upper right")
    return figure


def plot_audit_scores(histogram_without: Sequence[int], histogram_with: Sequence[int], threshold: int) -> Figure:
    """Plot how many runs reached each score on the two datasets, with the test's threshold.

    Entry ``s`` of a histogram counts the runs that selected the canary token in ``s`` steps.
    """
    scores = np.arange(len(histogram_without))
    figure = Figure(figsize=_NARROW, dpi=_DPI, layout="constrained")
    ax = figure.subplots()
    ax.bar(scores - 0.2, histogram_without, width=0.4, label="without the canary")
    ax.bar(scores + 0.2, histogram_with, width=0.4, label="with the canary")
    ax.axvline(threshold - 0.5, color="black", linestyle="--", label=f"threshold: score >= {threshold}")
    ax.set_xticks(scores)
    ax.set_xlabel("score: steps that selected the canary token")
    ax.set_ylabel("runs")
    ax.set_title("Scores of the runs on the two datasets")
    ax.legend(loc="upper center", fontsize="small")
    return figure


def plot_audit_bounds(
    noises: Sequence[float],
    claimed: Sequence[float],
    lower_bounds: Mapping[str, Sequence[float]],
    max_certifiable: float,
    marked_noise: float | None = None,
) -> Figure:
    """Plot the audits' epsilon lower bounds and the accountant's epsilon against sigma.

    ``lower_bounds`` maps a curve's legend label to one bound per noise value.
    ``max_certifiable`` is drawn as a horizontal line, and ``marked_noise`` as a
    vertical one.
    """
    figure = Figure(figsize=_NARROW, dpi=_DPI, layout="constrained")
    ax = figure.subplots()
    ax.plot(noises, claimed, color="black", linewidth=2, label="accountant's epsilon (the claim)")
    for index, (name, bounds) in enumerate(lower_bounds.items()):
        ax.plot(noises, bounds, marker="o", color=f"C{index}", label=name)
    ax.axhline(max_certifiable, color="0.5", linestyle=":", label="largest bound these runs can give")
    if marked_noise is not None:
        ax.axvline(marked_noise, color="0.3", linestyle="--", linewidth=1)
    _plain_log_x(ax)
    ax.set_xlabel("noise multiplier sigma")
    ax.set_ylabel("epsilon")
    ax.set_title("Empirical lower bounds against the claim")
    ax.legend(loc="upper right", fontsize="small")
    return figure
