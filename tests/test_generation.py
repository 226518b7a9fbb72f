"""Tests of generation: reproducibility, the ledger, resuming, budget caps."""

import math

import numpy as np
import pytest

from dpsynth.checkpoint import CheckpointError, read_checkpoint
from dpsynth.data import Example, load_demo
from dpsynth.generation import (
    BudgetExhaustedError,
    GenerationConfig,
    agenerate_example,
    generate,
    resolve_sizes,
    run_sync,
    select_next_token,
    step_generator,
)
from dpsynth.incontext import InContextModel
from dpsynth.mechanisms import is_stop_token
from dpsynth.models import ModelError

CONFIG = GenerationConfig(t_max=8, sigma=1.0, num_splits=4, num_samples_per_split=2)


@pytest.fixture(scope="module")
def records():
    return load_demo()


@pytest.fixture(scope="module")
def model():
    return InContextModel()


class FailingModel:
    """Wraps a model and raises ModelError from the given call on, like a server that went away."""

    def __init__(self, model, fail_from_call):
        self._model = model
        self._fail_from_call = fail_from_call
        self.calls = 0
        self.name = model.name
        self.max_top_k = model.max_top_k

    async def top_logprobs(self, prompts, top_k):
        self.calls += 1
        if self.calls >= self._fail_from_call:
            raise ModelError("the test server stopped")
        return await self._model.top_logprobs(prompts, top_k)


def _generate(records, model, **options):
    options.setdefault("show_progress", False)
    return generate(records, model, 2, CONFIG, **options)


def test_same_seed_same_dataset(records, model):
    first = _generate(records, model, seed=7)
    second = _generate(records, model, seed=7)
    assert first.examples == second.examples
    assert first.selections == second.selections


def test_concurrency_does_not_change_dataset(records, model):
    serial = _generate(records, model, seed=11, concurrency=1)
    parallel = _generate(records, model, seed=11, concurrency=32)
    assert serial.examples == parallel.examples


def test_different_seeds_differ(records, model):
    assert _generate(records, model, seed=1).examples != _generate(records, model, seed=2).examples


def test_result_shape_and_ledger(records, model):
    result = _generate(records, model, seed=3)
    labels = sorted({record.label for record in records})
    assert [example.label for example in result.examples] == [label for label in labels for _ in range(2)]
    for label in labels:
        assert 2 <= result.selections[label] <= 2 * CONFIG.t_max
    assert result.privacy.dataset.estimate == max(a.epsilon.estimate for a in result.privacy.per_label.values())
    assert result.epsilon == result.privacy.dataset.estimate


def test_ledger_matches_checkpoint(records, model, tmp_path):
    path = tmp_path / "run.checkpoint.jsonl"
    result = _generate(records, model, seed=5, checkpoint_path=path)
    state = read_checkpoint(path)
    assert state.selections() == dict(result.selections)


def test_interrupted_run_resumes_to_same_dataset(records, model, tmp_path):
    reference = _generate(records, model, seed=9)
    path = tmp_path / "run.checkpoint.jsonl"
    failing = FailingModel(model, fail_from_call=40)
    with pytest.raises(ModelError):
        _generate(records, failing, seed=9, checkpoint_path=path, concurrency=4)
    spent_before = sum(read_checkpoint(path).selections().values())
    assert 0 < spent_before < sum(reference.selections.values())

    counting = FailingModel(model, fail_from_call=math.inf)
    resumed = _generate(records, counting, checkpoint_path=path, resume=True)
    assert resumed.examples == reference.examples
    assert resumed.selections == reference.selections
    # Nothing is spent twice: the resumed run made only the missing selections.
    assert counting.calls == sum(reference.selections.values()) - spent_before


def test_resume_of_finished_run_spends_nothing(records, model, tmp_path):
    path = tmp_path / "run.checkpoint.jsonl"
    first = _generate(records, model, seed=4, checkpoint_path=path)
    counting = FailingModel(model, fail_from_call=math.inf)
    again = _generate(records, counting, checkpoint_path=path, resume=True)
    assert again.examples == first.examples
    assert counting.calls == 0


def test_resume_with_other_parameters_raises(records, model, tmp_path):
    path = tmp_path / "run.checkpoint.jsonl"
    _generate(records, model, seed=4, checkpoint_path=path)
    with pytest.raises(CheckpointError, match="t_max: checkpoint 8, request 9"):
        generate(records, model, 2, GenerationConfig(t_max=9, sigma=1.0, num_splits=4, num_samples_per_split=2),
                 checkpoint_path=path, resume=True, show_progress=False)


def test_resume_with_other_seed_raises(records, model, tmp_path):
    path = tmp_path / "run.checkpoint.jsonl"
    _generate(records, model, seed=4, checkpoint_path=path)
    with pytest.raises(CheckpointError, match="another seed"):
        _generate(records, model, seed=5, checkpoint_path=path, resume=True)


def test_resume_with_other_data_raises(records, model, tmp_path):
    path = tmp_path / "run.checkpoint.jsonl"
    _generate(records, model, seed=4, checkpoint_path=path)
    changed = list(records)
    changed[0] = Example(changed[0].text + " extra", changed[0].label)
    with pytest.raises(CheckpointError, match="records differ"):
        _generate(changed, model, checkpoint_path=path, resume=True)


def test_budget_cap_stops_run(records, model):
    labels = sorted({record.label for record in records})
    caps = {label: 3 for label in labels}
    with pytest.raises(BudgetExhaustedError, match="spent 3 noisy selections"):
        _generate(records, model, seed=1, max_compositions=caps, concurrency=1)


def test_example_stops_at_stop_token_or_t_max(records, model):
    pool = [record.text for record in records if record.label == "migraine"]
    config = GenerationConfig(t_max=30, sigma=0.05, num_splits=4, num_samples_per_split=2)
    example = run_sync(
        lambda: agenerate_example(model, pool, "migraine", config, entropy=1, label_index=0, example_index=0)
    )
    assert 1 <= example.selections <= 30
    assert example.text == example.text.strip()


def test_low_noise_follows_the_vote():
    # With tiny noise the merged vector's argmax wins: splits outvote the public favourite.
    public = {" a": math.log(0.6), " b": math.log(0.4)}
    splits = [{" b": math.log(0.9), " a": math.log(0.1)}] * 4
    config = GenerationConfig(sigma=1e-6, num_splits=4)
    outcome = select_next_token(public, splits, config, np.random.default_rng(0))
    assert outcome.token == " b"
    assert outcome.fallbacks == 0


def test_step_generators_are_independent():
    a = step_generator(1, 0, 0, 0).random(4)
    b = step_generator(1, 0, 0, 1).random(4)
    c = step_generator(1, 0, 1, 0).random(4)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(a, step_generator(1, 0, 0, 0).random(4))


def test_resolve_sizes():
    assert resolve_sizes(2, ["a", "b"]) == {"a": 2, "b": 2}
    assert resolve_sizes({"b": 3}, ["a", "b"]) == {"a": 0, "b": 3}


@pytest.mark.parametrize(
    "sizes, error, match",
    [
        ({"zebra": 1}, ValueError, "'zebra' that the data does not contain"),
        ({"a": -1}, ValueError, "size -1 for label 'a'"),
        (0, ValueError, "no examples at all"),
        ("3", TypeError, "sizes='3'"),
    ],
)
def test_resolve_sizes_rejects(sizes, error, match):
    with pytest.raises(error, match=match):
        resolve_sizes(sizes, ["a", "b"])


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("t_max", 0, "t_max=0"),
        ("sigma", 0.0, "sigma=0.0"),
        ("sigma", math.nan, "sigma=nan"),
        ("sigma", math.inf, "sigma=inf"),
        ("num_splits", 0, "num_splits=0"),
        ("num_samples_per_split", 0, "num_samples_per_split=0"),
        ("top_k", 0, "top_k=0"),
        ("mechanism", "laplace", "mechanism='laplace'"),
        ("sampling", "shuffle", "sampling='shuffle'"),
    ],
)
def test_config_rejects_bad_values(field, value, match):
    with pytest.raises(ValueError, match=match):
        GenerationConfig(**{field: value})


def test_small_label_pool_names_counts(model):
    records = [Example(f"text {i}", "rare") for i in range(5)] + [Example(f"text {i}", "common") for i in range(50)]
    with pytest.raises(ValueError, match=r"label 'rare'.*has 5 record\(s\).*need at least 8"):
        generate(records, model, 1, CONFIG, show_progress=False)


def test_top_k_above_model_limit(records, model):
    config = GenerationConfig(top_k=model.max_top_k + 1)
    with pytest.raises(ValueError, match=f"top_k={model.max_top_k + 1} is more than model"):
        generate(records, model, 1, config, show_progress=False)


def test_stop_token_never_in_text(records, model):
    result = _generate(records, model, seed=12)
    for example in result.examples:
        assert not any(is_stop_token(part) for part in example.text.split(" "))
        assert "\n" not in example.text


def test_resume_without_checkpoint_raises(records, model, tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        _generate(records, model, checkpoint_path=tmp_path / "absent.jsonl", resume=True)


def test_label_with_line_break_rejected(model):
    records = [Example(f"text {i}", "flu\nMessage: x") for i in range(20)]
    with pytest.raises(ValueError, match="record 1: its label contains a line break"):
        generate(records, model, 1, CONFIG, show_progress=False)


class BrokenLogprobModel:
    """Returns a positive logprob, as a malformed server response would."""

    name = "broken"
    max_top_k = 20

    async def top_logprobs(self, prompts, top_k):
        return [{" a": 5.0, " b": math.log(0.5)} for _ in prompts]


def test_invalid_logprob_is_model_error(records):
    with pytest.raises(ModelError, match="logprob 5.0"):
        generate(records, BrokenLogprobModel(), 1, CONFIG, show_progress=False)


def test_config_rejects_missing_bundle():
    with pytest.raises(TypeError, match="bundle=None"):
        GenerationConfig(bundle=None)


@pytest.mark.parametrize("seed, match", [(-1, "seed=-1"), (1.5, "seed=1.5")])
def test_bad_seed_named(records, model, seed, match):
    with pytest.raises(ValueError, match=match):
        _generate(records, model, seed=seed)


def test_empty_records_named(model):
    with pytest.raises(ValueError, match="records is empty"):
        generate([], model, 1, CONFIG, show_progress=False)


def test_numpy_integer_sigma_accepted():
    assert GenerationConfig(sigma=np.int64(2)).sigma == 2
