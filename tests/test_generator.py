"""Tests of the class with the LlamaIndex pack's interface."""

import asyncio

import pytest

from dpsynth import Example, GenerationConfig, InContextModel, SyntheticDatasetGenerator, generate, load_demo


@pytest.fixture(scope="module")
def generator():
    return SyntheticDatasetGenerator(InContextModel(), load_demo(), show_progress=False)


def test_run_matches_generate(generator):
    result = generator.run({"asthma": 2, "migraine": 1}, t_max=8, sigma=1.5, num_splits=5, num_samples_per_split=2, seed=3)
    config = GenerationConfig(t_max=8, sigma=1.5, num_splits=5, num_samples_per_split=2)
    expected = generate(load_demo(), InContextModel(), {"asthma": 2, "migraine": 1}, config, seed=3, show_progress=False)
    assert result.examples == expected.examples
    assert generator.last_result is result


def test_arun_matches_run(generator):
    synchronous = generator.run(1, t_max=6, seed=5)
    asynchronous = asyncio.run(generator.arun(1, t_max=6, seed=5))
    assert synchronous.examples == asynchronous.examples


def test_one_example_keeps_its_account(generator):
    example = generator.generate_dp_synthetic_example("influenza", t_max=6, seed=1)
    assert isinstance(example, Example)
    assert example.label == "influenza"
    assert set(generator.last_result.selections) == {"influenza"}
    assert generator.last_result.epsilon > 0


def test_planned_epsilon_is_the_worst_case(generator):
    planned = generator.planned_epsilon(2, t_max=6, sigma=2.0)
    result = generator.run(2, t_max=6, sigma=2.0, seed=2)
    assert planned.dataset.estimate == pytest.approx(result.worst_case.dataset.estimate)
    assert result.epsilon <= planned.dataset.estimate


def test_labels_sorted(generator):
    assert generator.labels == sorted({record.label for record in load_demo()})


def test_single_examples_with_checkpoint_path(tmp_path):
    generator = SyntheticDatasetGenerator(
        InContextModel(), load_demo(), show_progress=False, checkpoint_path=tmp_path / "run.checkpoint.jsonl"
    )
    first = generator.generate_dp_synthetic_example("asthma", t_max=4, seed=1)
    second = generator.generate_dp_synthetic_example("asthma", t_max=4, seed=2)
    assert first.label == second.label == "asthma"
    assert not (tmp_path / "run.checkpoint.jsonl").exists()
