"""Tests of the computations behind the walkthrough notebooks, against theory and the package's steps."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from dpsynth import InContextModel
from dpsynth.accounting import epsilon, llamaindex_pack_sigma_to_eps
from dpsynth.data import Example
from dpsynth.distributions import merge
from dpsynth.mechanisms import selection_probabilities_exponential
from dpsynth.prompts import PromptBundle, zero_shot_prompt
from dpsynth.sampling import poisson_splits
from dpsynth.walkthrough import (
    SplitSizes,
    demo_pools,
    display_token,
    draw_step_prompts,
    epsilon_against_delta,
    epsilon_against_tokens,
    expected_split_sizes,
    first_seed_including_appended,
    format_step_prompts,
    l2_sensitivity,
    markdown_table,
    max_log_ratio,
    measured_split_sizes,
    neighbouring_steps,
    noisy_vectors,
    run_epsilon,
    llamaindex_pack_steps,
    selection_frequencies,
    selection_probabilities,
    side_by_side,
    split_table,
    step_distributions,
)

# The canary of notebooks 2 and 3, and the label they use.
CANARY = "My left eye throbs and zigzag lines cross my vision before every headache."
LABEL = "migraine"


@pytest.fixture(scope="module")
def pools():
    return demo_pools()


@pytest.fixture(scope="module")
def model():
    return InContextModel()


# Prompts -------------------------------------------------------------------


def test_demo_pools_have_seven_labels(pools):
    # The data card lists 7 labels of 55 records each.
    assert len(pools) == 7
    assert {len(texts) for texts in pools.values()} == {55}
    assert all("\n" not in text for texts in pools.values() for text in texts)


def test_step_prompts_use_drawn_splits(pools):
    step = draw_step_prompts(pools[LABEL], LABEL, 4, 2, np.random.default_rng(3))
    expected = poisson_splits(55, 4, 2, np.random.default_rng(3))
    assert step.splits == tuple(tuple(int(i) for i in members) for members in expected)
    assert step.public == zero_shot_prompt(PromptBundle(), LABEL)
    assert len(step.private) == 4
    for members, prompt in zip(step.splits, step.private):
        assert prompt.endswith(step.public.split("\n\n")[-1])
        for index in members:
            assert pools[LABEL][index] in prompt
    assert step.prompts == [step.public, *step.private]


def test_step_prompts_fixed_size_fills_every_split(pools):
    step = draw_step_prompts(pools[LABEL], LABEL, 5, 3, np.random.default_rng(0), sampling="fixed_size")
    assert [len(members) for members in step.splits] == [3] * 5


def test_format_names_records_one_based():
    step = draw_step_prompts(["a b", "c d", "e f"], "x", 3, 1, np.random.default_rng(0), sampling="fixed_size")
    text = format_step_prompts(step)
    assert text.startswith("=== public prompt (no records) ===\n")
    for number, members in enumerate(step.splits, start=1):
        assert f"=== split {number} (records: {members[0] + 1}) ===" in text


def test_expected_split_sizes_small_pool():
    # n = 2, N = 1: X ~ Binomial(2, 1/2), min(X, 1) has mean 3/4, and P(X = 0) = 1/4.
    sizes = expected_split_sizes(2, 2, 1)
    assert sizes.mean_shots == pytest.approx(0.75)
    assert sizes.empty_fraction == pytest.approx(0.25)


def test_measured_split_sizes_match_theory():
    expected = expected_split_sizes(55, 10, 2)
    measured = measured_split_sizes(55, 10, 2, 3000, np.random.default_rng(7))
    # 30,000 splits: the standard error of each mean is below 0.006.
    assert measured.mean_shots == pytest.approx(expected.mean_shots, abs=0.03)
    assert measured.empty_fraction == pytest.approx(expected.empty_fraction, abs=0.02)


def test_split_sizes_str_rounds():
    assert str(SplitSizes(0.63549, 0.36451)) == "0.635 records per split, 36.5% of splits empty"


def test_expected_split_sizes_rejects_small_pool():
    with pytest.raises(ValueError, match="need at least 20"):
        expected_split_sizes(10, 10, 2)


# Distributions -----------------------------------------------------------


def test_step_distributions_merge_split_votes(pools, model):
    step = draw_step_prompts(pools[LABEL], LABEL, 10, 1, np.random.default_rng(0))
    result = step_distributions(model, step, top_k=5)
    assert result.split_vectors.shape == (10, len(result.tokens))
    np.testing.assert_allclose(result.split_vectors.sum(axis=1), 1.0)
    np.testing.assert_allclose(result.merged, merge(result.split_vectors))
    for members, vector in zip(step.splits, result.split_vectors):
        if not members:
            np.testing.assert_allclose(vector, result.universe.public)
    assert result.noiseless_choice() == result.tokens[int(np.argmax(result.merged))]


def test_l2_sensitivity_values():
    assert l2_sensitivity(1) == pytest.approx(math.sqrt(2))
    assert l2_sensitivity(20) == pytest.approx(0.0707107, rel=1e-6)
    with pytest.raises(ValueError, match="num_splits=0"):
        l2_sensitivity(0)


def test_first_seed_samples_appended_record():
    seed = first_seed_including_appended(55, 10, 1)
    rate = 10 / 55
    for earlier in range(seed):
        splits = poisson_splits(56, 10, 1, np.random.default_rng(earlier), rate=rate)
        assert not any(55 in members for members in splits)
    splits = poisson_splits(56, 10, 1, np.random.default_rng(seed), rate=rate)
    assert any(55 in members for members in splits)


def test_neighbouring_steps_differ_in_one_split(pools, model):
    seed = first_seed_including_appended(55, 10, 1)
    pair = neighbouring_steps(model, pools[LABEL], CANARY, LABEL, 10, 1, seed)
    assert pair.record_split is not None
    assert pair.with_record.tokens == pair.without_record.tokens
    changed = np.flatnonzero(np.any(pair.with_record.split_vectors != pair.without_record.split_vectors, axis=1))
    assert changed.tolist() == [pair.record_split]
    assert 0 < pair.shift_l2 <= pair.sensitivity
    assert pair.sensitivity == pytest.approx(math.sqrt(2) / 10)


def test_neighbouring_steps_unsampled_record_changes_nothing(pools, model):
    seed = first_seed_including_appended(55, 10, 1)
    unsampled = next(
        s for s in range(seed + 1, seed + 200)
        if not any(55 in m for m in poisson_splits(56, 10, 1, np.random.default_rng(s), rate=10 / 55))
    )
    pair = neighbouring_steps(model, pools[LABEL], CANARY, LABEL, 10, 1, unsampled)
    assert pair.record_split is None
    assert pair.shift_l2 == 0.0


def test_demo_canary_flips_noiseless_choice(pools, model):
    # Notebook 2 teaches the attack with this canary at M = 2: the choice must flip.
    seed = first_seed_including_appended(55, 2, 1)
    pair = neighbouring_steps(model, pools[LABEL], CANARY, LABEL, 2, 1, seed)
    assert pair.with_record.noiseless_choice() != pair.without_record.noiseless_choice()


def test_split_table_lists_every_split(pools, model):
    step = draw_step_prompts(pools[LABEL], LABEL, 3, 2, np.random.default_rng(0))
    table = split_table(step, step_distributions(model, step, top_k=5)).splitlines()
    assert len(table) == 2 + 3
    assert table[0].startswith("| split | records | ␣")
    assert table[0].endswith("| fallback |")


# Noisy selection ---------------------------------------------------------


def test_noisy_vectors_have_calibrated_scale():
    merged = np.array([0.5, 0.3, 0.2])
    noise = noisy_vectors(merged, 2.0, 10, 20_000, np.random.default_rng(0)) - merged
    assert noise.shape == (20_000, 3)
    # s = sigma * sqrt(2) / M = 0.2828; the sample std of 60,000 draws is within 1%.
    assert noise.std() == pytest.approx(2.0 * math.sqrt(2) / 10, rel=0.01)


def test_gaussian_two_tokens_closed_form():
    # With two tokens, token 2 wins when s * (Z2 - Z1) > p1 - p2: P = Phi(-(p1 - p2) / (s * sqrt(2))).
    s = 0.01
    for gap in (0.1, 1.0, 5.0, 20.0, 35.0):
        merged = np.array([0.5 + gap * s / 2, 0.5 - gap * s / 2])
        probabilities = selection_probabilities(merged, s / math.sqrt(2), 1)
        exact = norm.cdf(-gap / math.sqrt(2))
        assert probabilities[1] == pytest.approx(exact, rel=1e-8)
        assert probabilities.sum() == pytest.approx(1.0)


def test_gaussian_equal_tokens_uniform():
    probabilities = selection_probabilities(np.full(4, 0.25), 1.0, 10)
    np.testing.assert_allclose(probabilities, 0.25, rtol=1e-9)


@pytest.mark.parametrize("mechanism, noise", [("gaussian", 1.0), ("gaussian", 0.3), ("exponential", 1.0)])
def test_frequencies_match_probabilities(mechanism, noise):
    merged = np.array([0.45, 0.3, 0.15, 0.07, 0.03])
    draws = 100_000
    frequencies = selection_frequencies(merged, noise, 10, draws, np.random.default_rng(11), mechanism)
    probabilities = selection_probabilities(merged, noise, 10, mechanism)
    tolerance = 5 * np.sqrt(probabilities * (1 - probabilities) / draws) + 1e-9
    assert np.all(np.abs(frequencies - probabilities) <= tolerance)


def test_exponential_probabilities_are_softmax():
    merged = np.array([0.6, 0.3, 0.1])
    np.testing.assert_allclose(
        selection_probabilities(merged, 2.0, 10, "exponential"),
        selection_probabilities_exponential(merged, 2.0, 10),
    )


def test_exponential_loss_at_most_eps0(pools, model):
    seed = first_seed_including_appended(55, 10, 1)
    pair = neighbouring_steps(model, pools[LABEL], CANARY, LABEL, 10, 1, seed)
    for eps0 in (0.5, 1.0, 4.0):
        with_canary = selection_probabilities(pair.with_record.merged, eps0, 10, "exponential")
        without = selection_probabilities(pair.without_record.merged, eps0, 10, "exponential")
        assert max_log_ratio(with_canary, without) <= eps0 + 1e-12


def test_unknown_mechanism_rejected():
    with pytest.raises(ValueError, match="mechanism='laplace'"):
        selection_probabilities(np.array([0.5, 0.5]), 1.0, 2, "laplace")


def test_max_log_ratio_cases():
    assert max_log_ratio([0.5, 0.5], [0.25, 0.75]) == pytest.approx(math.log(2))
    assert max_log_ratio([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0
    assert max_log_ratio([1.0, 0.0], [0.5, 0.5]) == math.inf


# Accounting --------------------------------------------------------------


def test_run_epsilon_worst_case():
    result = run_epsilon(2.0, 15, 2, 10, 1, 55, 1e-5)
    assert result.sample_rate == pytest.approx(10 / 55)
    assert result.compositions == 30
    assert result.epsilon == epsilon("gaussian", 2.0, 10 / 55, 30, 1e-5)


def test_run_epsilon_rejects_small_pool():
    with pytest.raises(ValueError, match="too small"):
        run_epsilon(2.0, 15, 2, 10, 2, 15, 1e-5)


def test_epsilon_against_tokens_grows():
    counts, curve = epsilon_against_tokens(2.0, 0.2, 1e-5, 100, points=5)
    assert counts[0] == 1
    assert counts[-1] == 100
    assert np.all(np.diff(counts) > 0)
    assert curve.shape == (len(counts), 3)
    assert np.all(np.diff(curve[:, 1]) > 0)
    assert np.all(curve[:, 0] <= curve[:, 1])
    assert np.all(curve[:, 1] <= curve[:, 2])


def test_epsilon_against_delta_matches_queries():
    deltas = [1e-3, 1e-6]
    values = epsilon_against_delta(2.0, 1.0, 10, deltas)
    assert values.tolist() == [epsilon("gaussian", 2.0, 1.0, 10, d).estimate for d in deltas]
    assert values[1] > values[0]


def test_llamaindex_pack_steps_demo_run():
    pool_sizes = {f"label {i}": 55 for i in range(7)}
    sizes = {label: 2 for label in pool_sizes}
    rows = llamaindex_pack_steps(2.0, sizes, 15, pool_sizes, 10, 1)
    assert [row.change for row in rows] == [
        "the pack's sigma_to_eps",
        "the same inputs, dpsynth's accountant",
        "q = M*N/n of the label's pool",
        "T = examples * t_max of the label",
        "delta well below 1/n",
    ]
    assert rows[0].estimate == llamaindex_pack_sigma_to_eps(2.0, "gaussian", 14, 15, 385)
    assert rows[0].upper is None
    assert (rows[0].sample_rate, rows[0].compositions, rows[0].delta) == (14 / 385, 15, 1 / 385)
    assert rows[1].estimate == pytest.approx(rows[0].estimate, rel=0.02)
    assert (rows[2].sample_rate, rows[3].compositions, rows[4].delta) == (10 / 55, 30, 1e-5)
    estimates = [row.estimate for row in rows[1:]]
    assert estimates == sorted(estimates)
    # Notebook 4 states that the sampling rate is the largest of the three changes.
    ratios = [later / earlier for earlier, later in zip(estimates, estimates[1:])]
    assert ratios[0] == max(ratios)
    assert rows[4].upper == epsilon("gaussian", 2.0, 10 / 55, 30, 1e-5).upper


def test_llamaindex_pack_steps_take_worst_label():
    rows = llamaindex_pack_steps(2.0, {"small": 1, "large": 1}, 10, {"small": 20, "large": 200}, 10, 1)
    assert rows[2].sample_rate == pytest.approx(10 / 20)


# Display -----------------------------------------------------------------


def test_display_token_marks_space_and_newline():
    assert display_token(" I") == "␣I"
    assert display_token("\n") == "\\n"
    assert display_token(".") == "."


def test_markdown_table_formats_cells():
    table = markdown_table(["a", "b"], [(0.123456, "x|y"), (3, "line\nbreak")])
    assert table.splitlines() == [
        "| a | b |",
        "|---|---|",
        "| 0.1235 | x\\|y |",
        "| 3 | line break |",
    ]


def test_side_by_side_pairs_by_label():
    real = [Example("r1", "a"), Example("r2", "a"), Example("r3", "b")]
    synthetic = [Example("s1", "b"), Example("s2", "a"), Example("s3", "b")]
    assert side_by_side(real, synthetic, 2) == [
        ("b", "r3", "s1"),
        ("b", "", "s3"),
        ("a", "r1", "s2"),
        ("a", "r2", ""),
    ]
