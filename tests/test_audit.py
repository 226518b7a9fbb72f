"""Tests of the empirical privacy audit against theory and the real generation code.

Two audit settings are used, both explained in docs/audit.md:

- Setting A (noise): Gaussian, sigma 1.5, 5 compositions, q = 1, one split, two
  tokens, delta 0.05. The accountant's claim is the analytic Gaussian epsilon, 2.904.
- Setting B (sampling): Gaussian, sigma 1.0, 20 compositions, q = 0.05, one split,
  two tokens, delta 1e-5. The claim is about 2.0.

Trial budgets are the estimation runs per dataset; a quarter as many runs per
dataset choose the threshold.
"""

import argparse
import asyncio
import json
import math

import numpy as np
import pytest
from scipy import integrate, stats

from dpsynth.audit import (
    AuditSettings,
    Canary,
    CanaryModel,
    add_audit_parser,
    audit_mechanism,
    audit_vectors,
    canary_exposure,
    claimed_epsilon,
    clopper_pearson_upper,
    epsilon_from_rates,
    gaussian_dp_epsilon,
    gaussian_dp_mu,
    insert_canaries,
    make_canaries,
    max_certifiable_epsilon,
    ngram_overlap,
    run_audit,
    simulate_scores,
    sweep_noise,
)
from dpsynth.audit.bounds import select_threshold, threshold_error_counts
from dpsynth.audit.canary import CANARY_RECORD
from dpsynth.data import Example, load_demo, write_records
from dpsynth.generation import GenerationConfig, atoken_step, generate
from dpsynth.incontext import InContextModel
from dpsynth.models import NextTokenModel
from dpsynth.prompts import zero_shot_prompt

SETTING_A = AuditSettings(noise=1.5, compositions=5, sample_rate=1.0, delta=0.05)
SETTING_B = AuditSettings(noise=1.0, compositions=20, sample_rate=0.05, delta=1e-5)


def selection_probability(merged, std, index):
    """P(argmax(merged + N(0, std^2 I)) = index), by numerical integration."""
    others = np.delete(merged, index)

    def density(x):
        return stats.norm.pdf(x, merged[index], std) * np.prod(stats.norm.cdf((x - others) / std))

    value, _ = integrate.quad(density, merged[index] - 12 * std, merged[index] + 12 * std, limit=200)
    return value


def assert_binomial_fit(scores, steps, probability):
    observed = np.bincount(scores, minlength=steps + 1)
    expected = stats.binom.pmf(np.arange(steps + 1), steps, probability) * len(scores)
    keep = expected >= 5
    observed = np.append(observed[keep], observed[~keep].sum())
    expected = np.append(expected[keep], expected[~keep].sum())
    if expected[-1] == 0:
        observed, expected = observed[:-1], expected[:-1]
    _, p_value = stats.chisquare(observed, expected * observed.sum() / expected.sum())
    assert p_value > 0.001


# Statistics -------------------------------------------------------------------


@pytest.mark.parametrize("successes, trials", [(0, 10), (3, 50), (17, 1000), (999, 1000)])
def test_clopper_pearson_matches_scipy(successes, trials):
    # A two-sided exact interval at level 2c - 1 has the one-sided c bound as its upper end.
    interval = stats.binomtest(successes, trials).proportion_ci(confidence_level=0.9, method="exact")
    assert clopper_pearson_upper(successes, trials, 0.95) == pytest.approx(interval.high, rel=1e-9)


def test_clopper_pearson_zero_closed_form():
    # With no success, P(0 successes) = (1 - p)^n = 1 - c at the bound.
    assert clopper_pearson_upper(0, 200, 0.95) == pytest.approx(1 - 0.05 ** (1 / 200), rel=1e-9)
    assert clopper_pearson_upper(5, 5, 0.95) == 1.0


def test_clopper_pearson_covers_rate():
    rng = np.random.default_rng(0)
    rate, trials, repeats = 0.02, 400, 4000
    counts = rng.binomial(trials, rate, size=repeats)
    covered = np.mean([clopper_pearson_upper(int(k), trials, 0.95) >= rate for k in counts])
    assert covered >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / repeats)


@pytest.mark.parametrize("value, match", [(-1, "successes"), (11, "successes"), (1.5, "successes")])
def test_clopper_pearson_rejects(value, match):
    with pytest.raises(ValueError, match=match):
        clopper_pearson_upper(value, 10, 0.95)


def test_epsilon_of_randomized_response():
    # Randomized response with epsilon e0 has a = b = 1 / (1 + e^e0): its tests pin epsilon to e0.
    for e0 in (0.5, 1.0, 3.0):
        rate = 1 / (1 + math.exp(e0))
        assert epsilon_from_rates(rate, rate, 1e-12) == pytest.approx(e0, rel=1e-9)


def test_epsilon_from_rates_is_tight():
    rng = np.random.default_rng(1)
    for a, b, delta in rng.uniform([0.001, 0.001, 1e-6], [0.3, 0.3, 0.05], size=(20, 3)):
        eps = epsilon_from_rates(a, b, delta)
        first, second = a + math.exp(eps) * b, math.exp(eps) * a + b
        assert min(first, second) >= 1 - delta - 1e-9
        assert min(first, second) == pytest.approx(1 - delta, rel=1e-9)


def test_epsilon_from_rates_edges():
    assert epsilon_from_rates(0.5, 0.5, 0.01) == 0.0
    assert epsilon_from_rates(0.0, 0.5, 0.01) == math.inf
    with pytest.raises(ValueError, match="rates"):
        epsilon_from_rates(1.5, 0.1, 0.01)


def test_gaussian_mu_recovers_curve():
    for mu in (0.5, 1.0, 2.5):
        for a in (0.01, 0.1, 0.3):
            b = stats.norm.cdf(stats.norm.isf(a) - mu)
            assert gaussian_dp_mu(a, b) == pytest.approx(mu, rel=1e-9)


def test_gaussian_mu_edges():
    assert gaussian_dp_mu(0.6, 0.5) == 0.0
    assert gaussian_dp_mu(0.0, 0.3) == math.inf
    assert gaussian_dp_mu(0.0, 1.0) == 0.0


def test_gaussian_epsilon_inverts_profile():
    # The (epsilon, delta) profile of mu-GDP (Dong, Roth and Su 2022), written out here.
    for mu in (0.5, 1.5, 3.0):
        for delta in (1e-5, 0.05):
            eps = gaussian_dp_epsilon(mu, delta)
            profile = stats.norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * stats.norm.cdf(-eps / mu - mu / 2)
            assert profile == pytest.approx(delta, rel=1e-3)
    assert gaussian_dp_epsilon(0.0, 0.01) == 0.0


def test_max_certifiable_closed_form():
    # Both rates 0: each bound is 1 - (0.025)^(1/n) at 95% (Bonferroni over two rates).
    for trials in (30, 1000, 100_000):
        bound = 1 - 0.025 ** (1 / trials)
        expected = math.log((1 - 0.05 - bound) / bound)
        assert max_certifiable_epsilon(trials, 0.05, 0.95) == pytest.approx(expected, rel=1e-9)
    assert max_certifiable_epsilon(1000, 0.05, 0.95) < max_certifiable_epsilon(100_000, 0.05, 0.95)


def test_error_counts_match_brute_force():
    rng = np.random.default_rng(2)
    without, with_canary = rng.integers(0, 6, 300), rng.integers(0, 6, 200)
    false_positives, false_negatives = threshold_error_counts(without, with_canary, 5)
    for threshold in range(7):
        assert false_positives[threshold] == np.sum(without >= threshold)
        assert false_negatives[threshold] == np.sum(with_canary < threshold)


def test_threshold_separates_scores():
    without = np.array([0] * 500 + [1] * 500)
    with_canary = np.array([4] * 500 + [5] * 500)
    assert 2 <= select_threshold(without, with_canary, 5, 1000, 0.01, 0.95) <= 4


# The canary model ----------------------------------------------------------------


def test_canary_model_follows_protocol():
    model = CanaryModel(universe_size=3)
    assert isinstance(model, NextTokenModel)
    prompts = [zero_shot_prompt(GenerationConfig().bundle, "audit"), f"... {CANARY_RECORD} ..."]
    public, canary = asyncio.run(model.top_logprobs(prompts, 3))
    assert len(public) == 3
    assert max(public, key=public.get) == " public"
    assert canary == {" canary": 0.0}


@pytest.mark.parametrize("num_splits", [1, 3, 10])
def test_vectors_differ_by_sensitivity(num_splits):
    vectors = audit_vectors(num_splits, universe_size=4)
    assert vectors.distance == pytest.approx(math.sqrt(2) / num_splits, rel=1e-8)
    assert vectors.with_canary.sum() == pytest.approx(1.0)
    assert vectors.tokens[vectors.canary_index] == " canary"
    assert vectors.with_canary[vectors.canary_index] == pytest.approx(1 / num_splits, rel=1e-6)


# Runs against theory -----------------------------------------------------------------

# With one split and two tokens, a step selects the canary token when the noise
# difference, N(0, 4 sigma^2), beats the vote gap: 1 without the canary, -1 with
# it. The probability is Phi(-1 / (2 sigma)) without and Phi(1 / (2 sigma)) with.


@pytest.mark.parametrize(
    "variant, effective_sigma",
    [("correct", 1.5), ("half_noise", 0.75), ("wrong_sensitivity", 1.5 / math.sqrt(2))],
)
def test_scores_match_theory(variant, effective_sigma):
    rng = np.random.default_rng(3)
    for with_canary, sign in ((False, -1), (True, 1)):
        scores = simulate_scores(SETTING_A, variant, 20_000, with_canary, rng)
        assert_binomial_fit(scores, 5, stats.norm.cdf(sign / (2 * effective_sigma)))


def test_subsampled_scores_match_theory():
    settings = AuditSettings(noise=1.0, compositions=8, sample_rate=0.3)
    rng = np.random.default_rng(4)
    low, high = stats.norm.cdf(-0.5), stats.norm.cdf(0.5)
    fresh = simulate_scores(settings, "correct", 20_000, True, rng)
    assert_binomial_fit(fresh, 8, 0.3 * high + 0.7 * low)
    reused = simulate_scores(settings, "reused_sample", 20_000, True, rng)
    counts = np.bincount(reused, minlength=9)
    grid = np.arange(9)
    expected = (0.3 * stats.binom.pmf(grid, 8, high) + 0.7 * stats.binom.pmf(grid, 8, low)) * 20_000
    _, p_value = stats.chisquare(counts[expected >= 5], expected[expected >= 5] * counts[expected >= 5].sum() / expected[expected >= 5].sum())
    assert p_value > 0.001


def test_many_splits_match_integral():
    settings = AuditSettings(noise=2.0, compositions=1, num_splits=3, universe_size=4)
    vectors = audit_vectors(3, 4)
    std = 2.0 * math.sqrt(2) / 3
    rng = np.random.default_rng(5)
    for with_canary, merged in ((False, vectors.without_canary), (True, vectors.with_canary)):
        scores = simulate_scores(settings, "correct", 40_000, with_canary, rng)
        expected = selection_probability(merged, std, vectors.canary_index)
        low, high = stats.binom.interval(0.999, 40_000, expected)
        assert low <= scores.sum() <= high


def test_exponential_scores_match_softmax():
    settings = AuditSettings(mechanism="exponential", noise=2.0, compositions=4, num_splits=2, universe_size=3)
    vectors = audit_vectors(2, 3)
    rng = np.random.default_rng(6)
    for with_canary, merged in ((False, vectors.without_canary), (True, vectors.with_canary)):
        weights = np.exp(2.0 * 2 / 2 * merged)
        scores = simulate_scores(settings, "correct", 20_000, with_canary, rng)
        assert_binomial_fit(scores, 4, weights[vectors.canary_index] / weights.sum())


# The audit's runs against the generation code ----------------------------------------


def generation_canary_frequency(pool, config, steps, seed):
    model = CanaryModel(universe_size=2)

    async def run():
        selected = 0
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            outcome = await atoken_step(model, pool, "audit", "", config, rng)
            selected += outcome.token == " canary"
        return selected

    return asyncio.run(run())


def test_generation_step_matches_runs():
    # q = 1: one split contains the whole pool, so the canary is in every step, as in setting A.
    config = GenerationConfig(sigma=1.5, num_splits=1, num_samples_per_split=3, top_k=2)
    steps = 4000
    with_canary = generation_canary_frequency([CANARY_RECORD, "first record", "second record"], config, steps, 7)
    without = generation_canary_frequency(["first record", "second record", "third record"], config, steps, 8)
    runs = AuditSettings(noise=1.5, compositions=1)
    rng = np.random.default_rng(9)
    for count, flag in ((with_canary, True), (without, False)):
        twin = simulate_scores(runs, "correct", steps, flag, rng).sum()
        _, p_value = stats.chi2_contingency([[count, steps - count], [twin, steps - twin]])[:2]
        assert p_value > 0.001
        expected = stats.norm.cdf((1 if flag else -1) / 3.0)
        low, high = stats.binom.interval(0.999, steps, expected)
        assert low <= count <= high


def test_poisson_sampler_includes_at_most_q():
    # The sampler includes a record with probability q = M*N/n, then a full group
    # keeps N of its records at random: the canary survives with probability
    # q * E[min(1, N / (1 + X))], X ~ Binomial(n - 1, q / M) other records in its group.
    pool = [CANARY_RECORD, "first record", "second record", "third record"]
    config = GenerationConfig(sigma=0.5, num_splits=2, num_samples_per_split=1, top_k=2)
    q = 2 * 1 / 4
    others = np.arange(4)
    survival = np.sum(stats.binom.pmf(others, 3, q / 2) * np.minimum(1, 1 / (1 + others)))
    included = q * survival
    # With M = 2 the vote gap is 1 without the canary and 0 with it; the noise difference has std 2 sigma / M.
    low, high = stats.norm.cdf(-1 / 0.5), 0.5
    steps = 4000
    count = generation_canary_frequency(pool, config, steps, 10)
    expected = included * high + (1 - included) * low
    bounds = stats.binom.interval(0.999, steps, expected)
    assert bounds[0] <= count <= bounds[1]
    assert included < q


# Audit verdicts with stated budgets --------------------------------------------------


def test_correct_gaussian_not_flagged():
    # Budget: 100,000 runs per dataset.
    result = audit_mechanism(SETTING_A, np.random.default_rng(11), trials=100_000)
    assert result.claimed.upper == pytest.approx(2.904, abs=1e-3)
    assert not result.violation
    # The bound is close to what the exact rates at its threshold give, so the audit has power.
    high, low = stats.norm.cdf(1 / 3.0), stats.norm.cdf(-1 / 3.0)
    exact_fp = stats.binom.sf(result.threshold - 1, 5, low)
    exact_fn = stats.binom.cdf(result.threshold - 1, 5, high)
    exact = epsilon_from_rates(exact_fp, exact_fn, 0.05)
    assert exact - 0.3 < result.epsilon_lower <= exact


def test_half_noise_flagged():
    # Budget: 10,000 runs per dataset.
    result = audit_mechanism(SETTING_A, np.random.default_rng(12), variant="half_noise", trials=10_000)
    assert result.violation
    assert result.epsilon_lower > result.claimed.upper


def test_wrong_sensitivity_flagged():
    # Budget: 100,000 runs per dataset. The noise is only sqrt(2) too small, the hardest case.
    result = audit_mechanism(SETTING_A, np.random.default_rng(13), variant="wrong_sensitivity", trials=100_000)
    assert result.violation


def test_correct_subsampled_not_flagged():
    # Budget: 100,000 runs per dataset.
    result = audit_mechanism(SETTING_B, np.random.default_rng(14), trials=100_000)
    assert not result.violation
    assert result.epsilon_lower < result.claimed.upper


def test_reused_sample_flagged():
    # Budget: 20,000 runs per dataset.
    result = audit_mechanism(SETTING_B, np.random.default_rng(15), variant="reused_sample", trials=20_000)
    assert result.violation


def test_exponential_correct_not_flagged():
    settings = AuditSettings(mechanism="exponential", noise=1.0, compositions=5, delta=0.05)
    result = audit_mechanism(settings, np.random.default_rng(16), trials=50_000)
    assert not result.violation
    assert result.claimed.method == "binomial-exact"


def test_few_trials_cannot_certify():
    # 30 runs per dataset cannot certify epsilon 2.904 whatever the mechanism does.
    assert max_certifiable_epsilon(30, 0.05, 0.95) < claimed_epsilon(SETTING_A).upper
    result = audit_mechanism(SETTING_A, np.random.default_rng(17), variant="half_noise", trials=30)
    assert not result.violation
    assert result.epsilon_lower <= result.max_certifiable


def test_result_curve_and_dict():
    result = audit_mechanism(SETTING_A, np.random.default_rng(18), trials=2000)
    fpr, fnr = result.trade_off_curve()
    assert fpr[result.threshold] == result.false_positive_rate
    assert fnr[result.threshold] == result.false_negative_rate
    assert fpr[0] == 1.0
    assert fnr[0] == 0.0
    values = json.loads(json.dumps(result.to_dict()))
    assert values["variant"] == "correct"
    assert values["total_runs"] == 2 * (2000 + 500)


def test_noise_sweep_curves():
    sweep = sweep_noise(SETTING_A, [1.0, 1.5, 3.0], np.random.default_rng(20), trials=5000)
    assert sweep.noises == (1.0, 1.5, 3.0)
    assert sweep.claimed[1] == pytest.approx(2.904, abs=1e-3)
    # More noise, smaller claim: the accountant's epsilon falls with sigma.
    assert sweep.claimed[0] > sweep.claimed[1] > sweep.claimed[2]
    assert sweep.violations == (False, False, False)
    assert all(low <= sweep.max_certifiable for low in sweep.epsilon_lower)


def test_same_seed_same_result():
    first = audit_mechanism(SETTING_A, np.random.default_rng(19), trials=1000)
    second = audit_mechanism(SETTING_A, np.random.default_rng(19), trials=1000)
    assert first == second


@pytest.mark.parametrize(
    "settings, variant, match",
    [
        (AuditSettings(mechanism="exponential"), "wrong_sensitivity", "Gaussian mechanism only"),
        (SETTING_A, "reused_sample", "sample_rate below 1"),
        (SETTING_A, "no_noise", "unknown"),
    ],
)
def test_variant_rejected(settings, variant, match):
    with pytest.raises(ValueError, match=match):
        audit_mechanism(settings, np.random.default_rng(0), variant=variant, trials=10)


@pytest.mark.parametrize(
    "field, value, match",
    [("noise", 0.0, "sigma"), ("compositions", 0, "compositions"), ("sample_rate", 1.5, "sample_rate"),
     ("universe_size", 1, "universe_size"), ("delta", 1.0, "delta"), ("mechanism", "laplace", "mechanism")],
)
def test_settings_reject(field, value, match):
    with pytest.raises(ValueError, match=match):
        AuditSettings(**{field: value})


# Text audit ------------------------------------------------------------------------


def longest_common_run(first, second):
    best = 0
    for i in range(len(first)):
        for j in range(len(second)):
            length = 0
            while i + length < len(first) and j + length < len(second) and first[i + length] == second[j + length]:
                length += 1
            best = max(best, length)
    return best


def test_overlap_matches_brute_force():
    rng = np.random.default_rng(20)
    words = ["alpha", "beta", "gamma", "delta"]
    private = [" ".join(rng.choice(words, size=rng.integers(3, 15))) for _ in range(30)]
    synthetic = [" ".join(rng.choice(words, size=rng.integers(3, 15))) for _ in range(20)]
    report = ngram_overlap(synthetic, private, min_length=4)
    found = {match.synthetic_index: match for match in report.matches}
    for index, text in enumerate(synthetic):
        runs = [longest_common_run(text.split(), record.split()) for record in private]
        best = max(runs)
        if best < 4:
            assert index not in found
        else:
            assert found[index].length == best
            assert found[index].record_indices == tuple(i for i, run in enumerate(runs) if run == best)


def test_overlap_finds_copies_case_folded():
    private = ["I have a Fever and a sore throat since Monday.", "My knee hurts."]
    synthetic = ["i have a fever and a sore throat since monday.", "My knee hurts.", "Something else."]
    report = ngram_overlap(synthetic, private, min_length=5)
    assert [(m.synthetic_index, m.length, m.record_indices) for m in report.matches] == [(0, 11, (0,))]
    assert report.exact_copies == ((0, 0), (1, 1))


def test_overlap_report_has_no_text():
    records = load_demo()
    synthetic = [records[0].text, records[5].text[:40], "a new text"]
    report = ngram_overlap(synthetic, [r.text for r in records], min_length=4)
    dumped = json.dumps(report.to_dict())
    for record in records:
        words = record.text.split()
        for start in range(len(words) - 2):
            assert " ".join(words[start:start + 3]) not in dumped


def test_insert_canaries_positions():
    records = load_demo()[:20]
    canaries = make_canaries(["flu", "asthma"], np.random.default_rng(21))
    combined, positions = insert_canaries(records, canaries, np.random.default_rng(22))
    assert len(combined) == 22
    for canary, position in zip(canaries, positions):
        assert combined[position] == Example(canary.text, canary.label)
    assert [r for i, r in enumerate(combined) if i not in positions] == records


def test_canary_rejects_multi_token_word():
    with pytest.raises(ValueError, match="single token"):
        Canary("flu", "My number is", ("4-7",))


def test_exposure_of_copied_canary():
    canaries = make_canaries(["flu", "asthma"], np.random.default_rng(23))
    leaky = [Example(canaries[0].text, "flu"), Example("I have a fever and chills.", "flu")]
    report = canary_exposure(leaky, canaries, np.random.default_rng(24), candidates=200)
    copied, absent = report.canaries
    assert copied.secret_copies == 1
    assert copied.exposure == pytest.approx(copied.max_exposure)
    # No asthma text at all: every candidate ties, so the rank is the middle one.
    assert absent.secret_copies == 0
    assert absent.rank == pytest.approx(1 + 200 / 2)


def test_generated_dataset_exposure():
    # A real run of dpsynth on the demo data with canaries inserted: the secret is
    # never copied and its exposure stays near the 1 bit of a random secret.
    records = load_demo()
    canaries = make_canaries(["influenza"], np.random.default_rng(25))
    combined, _ = insert_canaries(records, canaries, np.random.default_rng(26))
    config = GenerationConfig(t_max=12, sigma=1.0, num_splits=5, top_k=10)
    result = generate(combined, InContextModel(), {"influenza": 4}, config, seed=27, show_progress=False)
    report = canary_exposure(result.examples, canaries, np.random.default_rng(28), candidates=200)
    assert report.canaries[0].secret_copies == 0
    assert report.canaries[0].exposure < 3.0
    overlap = ngram_overlap([e.text for e in result.examples], [r.text for r in combined], min_length=8)
    assert overlap.synthetic_count == 4


# The command ----------------------------------------------------------------------


def run_command(argv):
    parser = argparse.ArgumentParser(prog="dpsynth")
    add_audit_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.handler is run_audit
    return run_audit(args)


def test_command_mechanism_json(capsys):
    status = run_command([
        "audit", "mechanism", "--variant", "half_noise", "--trials", "10000", "--seed", "1",
        "--fail-on-violation", "--json",
    ])
    values = json.loads(capsys.readouterr().out)
    assert status == 1
    assert values["violation"] is True
    assert values["settings"]["noise"] == 1.5
    assert values["claimed"]["upper"] == pytest.approx(2.904, abs=1e-3)


def test_command_mechanism_text(capsys):
    status = run_command(["audit", "mechanism", "--trials", "2000", "--seed", "2"])
    out = capsys.readouterr().out
    assert status == 0
    assert "epsilon lower bound at delta 0.05" in out
    assert "no violation" in out


def test_command_text_prints_no_private_text(tmp_path, capsys):
    private, synthetic, canaries = tmp_path / "private.jsonl", tmp_path / "synthetic.jsonl", tmp_path / "canaries.jsonl"
    status = run_command([
        "audit", "canaries", "--demo", "--out", str(private), "--canaries-out", str(canaries), "--seed", "3",
    ])
    assert status == 0
    capsys.readouterr()
    records = [json.loads(line) for line in private.read_text().splitlines()]
    assert len(records) == 385 + 7
    write_records([Example(records[0]["text"], records[0]["label"]), Example("I feel fine.", "flu")], synthetic)
    status = run_command([
        "audit", "text", "--synthetic", str(synthetic), "--private", str(private), "--canaries", str(canaries),
        "--candidates", "50", "--seed", "4",
    ])
    out = capsys.readouterr().out
    assert status == 0
    assert "1 of 2 synthetic texts" in out
    for record in records:
        assert record["text"] not in out
        assert record["text"][:30] not in out


def test_command_canaries_refuses_overwrite(tmp_path):
    out = tmp_path / "data.jsonl"
    out.write_text("{}\n")
    with pytest.raises(ValueError, match="already exists"):
        run_command(["audit", "canaries", "--demo", "--out", str(out), "--canaries-out", str(tmp_path / "c.jsonl")])


@pytest.mark.parametrize("spelling", ["same", "dotdot"])
def test_command_canaries_same_paths(tmp_path, spelling):
    (tmp_path / "sub").mkdir()
    out = tmp_path / "data.jsonl"
    canaries = out if spelling == "same" else tmp_path / "sub" / ".." / "data.jsonl"
    with pytest.raises(ValueError) as error:
        run_command(["audit", "canaries", "--demo", "--out", str(out), "--canaries-out", str(canaries)])
    assert "--out" in str(error.value)
    assert "--canaries-out" in str(error.value)
    assert not out.exists()
