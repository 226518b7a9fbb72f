"""Tests that each notebook figure plots the data it is given, read back from its artists."""

import numpy as np
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from dpsynth.plots import (
    plot_audit_bounds,
    plot_audit_scores,
    plot_delta_curve,
    plot_epsilon_against_sigma,
    plot_epsilon_against_tokens,
    plot_merge_shift,
    plot_noisy_selection,
    plot_split_distributions,
)

TOKENS = (" I", " My", ".")


def _bar_heights(ax):
    return [[patch.get_height() for patch in container] for container in ax.containers if isinstance(container, BarContainer)]


def _tick_labels(ax):
    return [label.get_text() for label in ax.get_xticklabels()]


def test_split_distributions_bars():
    splits = np.array([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1]])
    merged = splits.mean(axis=0)
    figure = plot_split_distributions(TOKENS, splits, merged)
    assert isinstance(figure, Figure)
    (ax,) = figure.axes
    heights = _bar_heights(ax)
    assert len(heights) == 3
    np.testing.assert_allclose(heights[0], splits[0])
    np.testing.assert_allclose(heights[1], splits[1])
    np.testing.assert_allclose(heights[2], merged)
    assert _tick_labels(ax) == ["␣I", "␣My", "."]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["split 1", "split 2", "merged"]


def test_merge_shift_bars_and_bound():
    without = np.array([0.6, 0.3, 0.1])
    with_record = np.array([0.5, 0.4, 0.1])
    figure = plot_merge_shift(TOKENS, without, with_record, 0.1414, 0.7071)
    left, right = figure.axes
    heights = _bar_heights(left)
    np.testing.assert_allclose(heights[0], without)
    np.testing.assert_allclose(heights[1], with_record)
    np.testing.assert_allclose(_bar_heights(right)[0], [0.1414, 0.7071])
    assert _tick_labels(right) == ["shift", "sqrt(2)/M"]


def test_noisy_selection_points_and_probabilities():
    merged = np.array([0.6, 0.3, 0.1])
    noisy = np.array([[0.7, 0.2, 0.0], [0.5, 0.6, 0.1]])
    frequencies = np.array([0.55, 0.4, 0.05])
    probabilities = np.array([0.56, 0.39, 0.05])
    figure = plot_noisy_selection(TOKENS, merged, noisy, frequencies, probabilities)
    left, right = figure.axes
    np.testing.assert_allclose(_bar_heights(left)[0], merged)
    draws, winners = left.lines[:2], left.lines[2]
    assert winners.get_label() == "winner of a draw"
    for line, vector in zip(draws, noisy):
        np.testing.assert_allclose(line.get_ydata(), vector)
    np.testing.assert_allclose(winners.get_ydata(), [0.7, 0.6])
    np.testing.assert_allclose(_bar_heights(right)[0], frequencies)
    np.testing.assert_allclose(right.lines[0].get_ydata(), probabilities)


def test_noisy_selection_single_draw():
    figure = plot_noisy_selection(TOKENS, np.ones(3) / 3, np.array([[0.1, 0.5, 0.2]]), np.ones(3) / 3, np.ones(3) / 3)
    left, _ = figure.axes
    np.testing.assert_allclose(left.lines[1].get_xydata(), [[1.0, 0.5]])


def test_epsilon_against_tokens_line_band_and_basic():
    counts = np.array([1, 10, 100])
    curve = np.array([[0.5, 0.6, 0.7], [1.0, 1.2, 1.4], [3.0, 3.5, 4.0]])
    figure = plot_epsilon_against_tokens(counts, curve, basic_per_token=0.6)
    (ax,) = figure.axes
    estimate, basic = ax.lines
    np.testing.assert_allclose(estimate.get_xydata(), np.column_stack([counts, curve[:, 1]]))
    np.testing.assert_allclose(basic.get_ydata(), counts * 0.6)
    (band,) = ax.collections
    vertices = band.get_paths()[0].vertices
    assert vertices[:, 1].min() == pytest.approx(0.5)
    assert vertices[:, 1].max() == pytest.approx(4.0)


def test_epsilon_against_tokens_without_basic():
    figure = plot_epsilon_against_tokens([1, 2], np.array([[1.0, 1.0, 1.0], [1.5, 1.6, 1.7]]))
    assert len(figure.axes[0].lines) == 1


def test_epsilon_against_sigma_log_axes():
    figure = plot_epsilon_against_sigma([0.5, 1.0, 2.0], [8.0, 4.0, 2.0], delta=1e-5)
    (ax,) = figure.axes
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[0.5, 8.0], [1.0, 4.0], [2.0, 2.0]])
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.get_ylabel() == "epsilon at delta = 1e-05"


def test_delta_curve_with_marks():
    figure = plot_delta_curve([1.0, 2.0, 3.0], [1e-2, 1e-4, 1e-6], marks={"1/n": 1e-3, "default": 1e-5})
    (ax,) = figure.axes
    curve, first, second = ax.lines
    np.testing.assert_allclose(curve.get_xydata(), [[1.0, 1e-2], [2.0, 1e-4], [3.0, 1e-6]])
    assert first.get_ydata()[0] == pytest.approx(1e-3)
    assert second.get_ydata()[0] == pytest.approx(1e-5)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["delta(epsilon)", "1/n", "default"]
    assert ax.get_yscale() == "log"


def test_audit_scores_histograms_and_threshold():
    figure = plot_audit_scores([50, 30, 15, 5], [5, 15, 30, 50], threshold=2)
    (ax,) = figure.axes
    heights = _bar_heights(ax)
    assert heights == [[50, 30, 15, 5], [5, 15, 30, 50]]
    (threshold,) = ax.lines
    assert threshold.get_xdata()[0] == pytest.approx(1.5)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "threshold: score >= 2" in labels


def test_audit_bounds_curves_and_marks():
    noises = [0.5, 1.0, 2.0]
    figure = plot_audit_bounds(
        noises, [8.0, 4.0, 2.0], {"correct": [3.0, 2.0, 1.0], "broken": [9.0, 6.0, 3.0]}, 7.5, marked_noise=1.0
    )
    (ax,) = figure.axes
    claim, correct, broken, certifiable, marked = ax.lines
    np.testing.assert_allclose(claim.get_xydata(), [[0.5, 8.0], [1.0, 4.0], [2.0, 2.0]])
    np.testing.assert_allclose(correct.get_ydata(), [3.0, 2.0, 1.0])
    np.testing.assert_allclose(broken.get_ydata(), [9.0, 6.0, 3.0])
    assert certifiable.get_ydata()[0] == pytest.approx(7.5)
    assert marked.get_xdata()[0] == pytest.approx(1.0)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[1:3] == ["correct", "broken"]


def test_figures_have_fixed_resolution():
    figure = plot_epsilon_against_sigma([1.0, 2.0], [2.0, 1.0], delta=1e-5)
    assert figure.dpi == 100
    assert repr(figure) == "<Figure size 600x360 with 1 Axes>"
