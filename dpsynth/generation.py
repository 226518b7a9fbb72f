"""Generation: one token step, one synthetic example, a whole dataset.

A token step for label ``y`` draws the splits and sends the public prompt and
every split prompt to the model in one batch. From the top-k next tokens it
builds the universe and the split distributions, merges them and selects one
token with the noisy argmax. An example repeats token steps until a stop token or ``t_max``
tokens. A dataset runs many examples concurrently.

Randomness. Every token step draws its splits and its noise from its own
generator, seeded by ``SeedSequence(entropy, spawn_key=(label, example, step))``.
The same seed therefore gives the same dataset whatever the concurrency, and a
resumed run continues each unfinished example at the exact step where it stopped.

What leaves the mechanism. Only the selected tokens: they are written to the
checkpoint before they are used, so the checkpoint counts every noisy selection
(the privacy ledger). Prompts, split distributions and noise stay in memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import math
import os
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .accounting import PrivacyWarning
from .checkpoint import CheckpointError, CheckpointState, CheckpointWriter, read_checkpoint
from .data import Example, group_by_label
from .distributions import TokenUniverse, merge, split_distribution, token_universe
from .mechanisms import exponential_noisy_argmax, gaussian_noisy_argmax, is_stop_token
from .models import ModelError, NextTokenModel, TopLogprobs, validate_top_k
from .prompts import PromptBundle, check_labels, few_shot_prompt, prepare_texts, zero_shot_prompt
from .sampling import SamplingScheme, draw_splits, validate_split_shape

__all__ = [
    "BudgetExhaustedError",
    "GenerationConfig",
    "GenerationResult",
    "StepOutcome",
    "SyntheticExample",
    "agenerate",
    "agenerate_example",
    "atoken_step",
    "generate",
    "resolve_sizes",
    "select_next_token",
    "step_generator",
    "step_prompts",
    "validate_pools",
]

logger = logging.getLogger("dpsynth")

MECHANISMS = ("gaussian", "exponential")

T = TypeVar("T")


class BudgetExhaustedError(RuntimeError):
    """A noisy selection would spend more privacy budget than ``max_epsilon`` allows."""


def _check_whole(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} is invalid: give a whole number, {minimum} or more.")


@dataclass(frozen=True)
class GenerationConfig:
    """The mechanism's parameters, as the accountant and the checkpoint see them.

    Attributes
    ----------
    t_max
        Maximum tokens per synthetic example, the stop token included.
    sigma
        Gaussian mechanism: the noise multiplier; each coordinate of the merged
        vector gets ``N(0, (sigma * sqrt(2) / num_splits)^2)`` noise. Exponential
        mechanism: the per-token epsilon ``eps0``.
    num_splits
        ``M``, the number of disjoint splits (few-shot prompts) per token.
    num_samples_per_split
        ``N``, the maximum number of private examples (shots) per split.
    top_k
        Size of the token universe: the public prompt's top-k candidates.
    mechanism
        ``"gaussian"`` (noisy argmax) or ``"exponential"`` (Gumbel-max).
    sampling
        ``"poisson"`` (exact for the accountant) or ``"fixed_size"`` (the published
        method's scheme, accounted approximately).
    bundle
        The prompt wording.
    """

    t_max: int = 20
    sigma: float = 2.0
    num_splits: int = 10
    num_samples_per_split: int = 1
    top_k: int = 5
    mechanism: str = "gaussian"
    sampling: str = "poisson"
    bundle: PromptBundle = field(default_factory=PromptBundle)

    def __post_init__(self) -> None:
        if not isinstance(self.bundle, PromptBundle):
            raise TypeError(f"bundle={self.bundle!r} is invalid: give a dpsynth.prompts.PromptBundle.")
        _check_whole("t_max", self.t_max, 1)
        _check_whole("num_splits", self.num_splits, 1)
        _check_whole("num_samples_per_split", self.num_samples_per_split, 1)
        _check_whole("top_k", self.top_k, 1)
        noise_name = "sigma" if self.mechanism == "gaussian" else "sigma (the per-token epsilon)"
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, (int, float, np.floating, np.integer)):
            raise TypeError(f"{noise_name}={self.sigma!r} is invalid: give a positive finite number.")
        if not math.isfinite(self.sigma) or self.sigma <= 0:
            raise ValueError(f"{noise_name}={self.sigma!r} is invalid: give a positive finite number.")
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"mechanism={self.mechanism!r} is invalid: use 'gaussian' or 'exponential'.")
        try:
            SamplingScheme(self.sampling)
        except ValueError:
            raise ValueError(f"sampling={self.sampling!r} is invalid: use 'poisson' or 'fixed_size'.") from None

    def params(self) -> dict[str, Any]:
        """Return the parameters as plain JSON values, for checkpoints and reports."""
        values = asdict(self)
        values["sigma"] = float(self.sigma)
        return values


@dataclass(frozen=True)
class StepOutcome:
    """The result of one noisy selection.

    Attributes
    ----------
    token
        The selected token, the only value that leaves the mechanism.
    fallbacks
        How many splits voted with the public distribution because none of their
        candidates was in the universe. It depends on the private data and is not
        differentially private: use it for teaching on demo data, never publish it.
    """

    token: str
    fallbacks: int


@dataclass(frozen=True)
class SyntheticExample:
    """A finished synthetic example and the number of noisy selections it spent."""

    label: str
    index: int
    text: str
    selections: int


@dataclass(frozen=True)
class GenerationResult:
    """A generated dataset with its privacy ledger and accounting.

    Attributes
    ----------
    examples
        Synthetic examples in label order, then example order.
    sizes
        Synthetic examples requested per label.
    selections
        Noisy selections spent per label: the number of compositions.
    pool_sizes
        Private records per label, the ``n_y`` behind ``q = M * N / n_y``.
    config
        The mechanism's parameters.
    model
        The model's name.
    delta
        The delta of the reported epsilon.
    privacy
        The accountant's result for the noisy selections made, with their count
        treated as public: it follows from where the released texts stop.
    worst_case
        The accountant's result if every example had reached ``t_max``: a
        guarantee that does not depend on the texts' lengths.
    """

    examples: tuple[Example, ...]
    sizes: Mapping[str, int]
    selections: Mapping[str, int]
    pool_sizes: Mapping[str, int]
    config: GenerationConfig
    model: str
    delta: float
    privacy: Any
    worst_case: Any

    @property
    def epsilon(self) -> float:
        """The dataset's epsilon estimate at :attr:`delta`."""
        return self.privacy.dataset.estimate


def step_generator(entropy: int, label_index: int, example_index: int, step: int) -> np.random.Generator:
    """Return the generator of one token step, independent of every other step's."""
    sequence = np.random.SeedSequence(entropy, spawn_key=(label_index, example_index, step))
    return np.random.default_rng(sequence)


def step_prompts(
    bundle: PromptBundle,
    pool: Sequence[str],
    label: str,
    prefix: str,
    splits: Sequence[np.ndarray],
) -> list[str]:
    """Return the public prompt followed by one few-shot prompt per split."""
    prompts = [zero_shot_prompt(bundle, label, prefix)]
    for members in splits:
        shots = [(label, pool[int(index)]) for index in members]
        prompts.append(few_shot_prompt(bundle, shots, label, prefix))
    return prompts


def select_next_token(
    public_logprobs: TopLogprobs,
    split_logprobs: Sequence[TopLogprobs],
    config: GenerationConfig,
    rng: np.random.Generator,
) -> StepOutcome:
    """Select the next token from the public and per-split top-k logprobs.

    The universe and ``p0`` come from ``public_logprobs``. Each split's vector is
    restricted to the universe, and the merged vector goes through the noisy
    argmax of ``config.mechanism`` with noise drawn from ``rng``.
    """
    universe: TokenUniverse = token_universe(public_logprobs)
    vectors = []
    fallbacks = 0
    for logprobs in split_logprobs:
        vector, used_public = split_distribution(logprobs, universe)
        vectors.append(vector)
        fallbacks += used_public
    merged = merge(vectors)
    if config.mechanism == "gaussian":
        index = gaussian_noisy_argmax(merged, config.sigma, config.num_splits, rng)
    else:
        index = exponential_noisy_argmax(merged, config.sigma, config.num_splits, rng)
    return StepOutcome(universe.tokens[index], fallbacks)


async def atoken_step(
    model: NextTokenModel,
    pool: Sequence[str],
    label: str,
    prefix: str,
    config: GenerationConfig,
    rng: np.random.Generator,
) -> StepOutcome:
    """Run one token step: sample, query the model once for all prompts, select."""
    splits = draw_splits(config.sampling, len(pool), config.num_splits, config.num_samples_per_split, rng)
    prompts = step_prompts(config.bundle, pool, label, prefix, splits)
    responses = await model.top_logprobs(prompts, config.top_k)
    if len(responses) != len(prompts):
        raise ModelError(
            f"model {model.name!r} returned {len(responses)} result(s) for {len(prompts)} prompts."
        )
    try:
        return select_next_token(responses[0], responses[1:], config, rng)
    except ValueError as error:
        raise ModelError(f"model {model.name!r}: {error}") from None


TokenCallback = Callable[[str, int, int, str], None]


async def agenerate_example(
    model: NextTokenModel,
    pool: Sequence[str],
    label: str,
    config: GenerationConfig,
    *,
    entropy: int,
    label_index: int,
    example_index: int,
    tokens: Sequence[str] = (),
    on_token: TokenCallback | None = None,
    before_step: Callable[[str], None] | None = None,
) -> SyntheticExample:
    """Generate one synthetic example of ``label``, continuing from ``tokens``.

    Parameters
    ----------
    pool
        The label's private texts, prepared by :func:`dpsynth.prompts.prepare_texts`.
    entropy, label_index, example_index
        Identify the example's step generators (see :func:`step_generator`).
    tokens
        Tokens already selected for this example, from a checkpoint.
    on_token
        Called as ``on_token(label, example_index, step, token)`` after each
        selection and before the token is used; the checkpoint records it there.
    before_step
        Called with the label before each selection; the budget check raises there.
    """
    selected = list(tokens)
    while len(selected) < config.t_max and not (selected and is_stop_token(selected[-1])):
        step = len(selected)
        if before_step is not None:
            before_step(label)
        rng = step_generator(entropy, label_index, example_index, step)
        outcome = await atoken_step(model, pool, label, "".join(selected), config, rng)
        if on_token is not None:
            on_token(label, example_index, step, outcome.token)
        selected.append(outcome.token)
    body = selected[:-1] if selected and is_stop_token(selected[-1]) else selected
    return SyntheticExample(label, example_index, "".join(body).strip(), len(selected))


def resolve_sizes(sizes: int | Mapping[str, int], labels: Sequence[str]) -> dict[str, int]:
    """Return the number of examples to generate per label, in label order.

    An int applies to every label; a mapping names some labels, and the others get 0.
    """
    if isinstance(sizes, Mapping):
        unknown = [label for label in sizes if label not in labels]
        if unknown:
            raise ValueError(
                f"sizes names label(s) {', '.join(map(repr, unknown))} that the data does not "
                f"contain; its labels are {', '.join(map(repr, labels))}."
            )
        resolved = {label: sizes.get(label, 0) for label in labels}
    elif isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
        resolved = {label: int(sizes) for label in labels}
    else:
        raise TypeError(f"sizes={sizes!r} is invalid: give an int or a mapping from label to int.")
    for label, size in resolved.items():
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise ValueError(f"size {size!r} for label {label!r} is invalid: give a whole number, 0 or more.")
    if sum(resolved.values()) == 0:
        raise ValueError("sizes asks for no examples at all: give at least one label a size of 1 or more.")
    return resolved


def validate_pools(pool_sizes: Mapping[str, int], sizes: Mapping[str, int], config: GenerationConfig) -> None:
    """Raise ValueError, naming the label, if a requested label has too few records for the splits."""
    for label, size in sizes.items():
        if size:
            try:
                validate_split_shape(pool_sizes[label], config.num_splits, config.num_samples_per_split)
            except ValueError as error:
                raise ValueError(f"label {label!r}: {error}") from None


def _fingerprint(pools: Mapping[str, Sequence[str]]) -> str:
    # A digest of the prepared data, so that resuming against other data fails loudly.
    digest = hashlib.sha256()
    for label, texts in pools.items():
        digest.update(label.encode("utf-8") + b"\x00")
        for text in texts:
            digest.update(text.encode("utf-8") + b"\x01")
    return digest.hexdigest()


def _run_params(
    config: GenerationConfig,
    sizes: Mapping[str, int],
    pools: Mapping[str, Sequence[str]],
    model: NextTokenModel,
    delta: float,
    neighbouring: str,
) -> dict[str, Any]:
    return {
        "config": config.params(),
        "sizes": dict(sizes),
        "pool_sizes": {label: len(texts) for label, texts in pools.items()},
        "model": model.name,
        "delta": delta,
        "neighbouring": neighbouring,
        "data_sha256": _fingerprint(pools),
    }


def _compare_params(path: Path, stored: Mapping[str, Any], requested: Mapping[str, Any]) -> None:
    differences = []
    for key in sorted(set(stored) | set(requested)):
        if key == "config":
            for name in sorted(set(stored.get(key, {})) | set(requested[key])):
                old, new = stored.get(key, {}).get(name), requested[key].get(name)
                if old != new:
                    differences.append(f"{name}: checkpoint {old!r}, request {new!r}")
        elif key == "data_sha256":
            if stored.get(key) != requested.get(key):
                differences.append("data: the records differ from those the checkpoint was made with")
        elif stored.get(key) != requested.get(key):
            differences.append(f"{key}: checkpoint {stored.get(key)!r}, request {requested.get(key)!r}")
    if differences:
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written for a different request ("
            + "; ".join(differences)
            + "). Repeat the original parameters to resume, or pass --force to start over."
        )


def _default_delta(num_records: int) -> float:
    from .accounting import default_delta

    return default_delta(num_records)


def _account(
    config: GenerationConfig,
    pool_sizes: Mapping[str, int],
    selections: Mapping[str, int],
    delta: float,
    assumptions: Any,
) -> Any:
    from .accounting import PrivacyAssumptions, account_run

    if assumptions is None:
        assumptions = PrivacyAssumptions(sampling=config.sampling)
    elif assumptions.sampling.value != config.sampling:
        raise ValueError(
            f"assumptions.sampling={assumptions.sampling.value!r} differs from config.sampling="
            f"{config.sampling!r}: state the scheme the run uses."
        )

    return account_run(
        config.mechanism,
        config.sigma,
        pool_sizes=pool_sizes,
        compositions=selections,
        num_splits=config.num_splits,
        shots=config.num_samples_per_split,
        delta=delta,
        assumptions=assumptions,
    )


class _Ledger:
    """Counts noisy selections per label and enforces an optional per-label cap."""

    def __init__(self, spent: Mapping[str, int], caps: Mapping[str, int] | None) -> None:
        self.spent = dict(spent)
        self.caps = caps

    def reserve(self, label: str) -> None:
        if self.caps is not None and self.spent.get(label, 0) + 1 > self.caps[label]:
            raise BudgetExhaustedError(
                f"label {label!r} has spent {self.spent.get(label, 0)} noisy selections, the most "
                "that max_epsilon allows; the run stops here."
            )
        self.spent[label] = self.spent.get(label, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.spent.values())


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="examples", unit="example", disable=not enabled, leave=True)


async def agenerate(
    records: Sequence[Example],
    model: NextTokenModel,
    sizes: int | Mapping[str, int],
    config: GenerationConfig | None = None,
    *,
    seed: int | None = None,
    delta: float | None = None,
    concurrency: int = 8,
    checkpoint_path: str | os.PathLike[str] | None = None,
    resume: bool = False,
    max_compositions: Mapping[str, int] | None = None,
    on_heading: str = "reject",
    show_progress: bool = True,
    assumptions: Any = None,
) -> GenerationResult:
    """Generate a differentially private synthetic dataset; see :func:`generate`."""
    config = config or GenerationConfig()
    _check_whole("concurrency", concurrency, 1)
    if seed is not None:
        _check_whole("seed", seed, 0)
    if not records:
        raise ValueError("records is empty: give the private labelled records to learn from.")
    check_labels(record.label for record in records)
    texts = prepare_texts((record.text for record in records), config.bundle, on_heading)
    pools = group_by_label(Example(text, record.label) for text, record in zip(texts, records))
    labels = list(pools)
    wanted = resolve_sizes(sizes, labels)
    validate_pools({label: len(texts) for label, texts in pools.items()}, wanted, config)
    validate_top_k(model, config.top_k)
    if delta is None:
        delta = _default_delta(len(records))
    if not (isinstance(delta, (int, float)) and 0 < delta < 1):
        raise ValueError(f"delta={delta!r} is invalid: give a number strictly between 0 and 1.")

    neighbouring = "add_remove" if assumptions is None else assumptions.neighbouring.value
    params = _run_params(config, wanted, pools, model, float(delta), neighbouring)
    state, writer = _open_checkpoint(checkpoint_path, resume, params, seed)
    entropy = state.entropy
    done_tokens = state.tokens
    try:
        return await _run_examples(
            model, pools, wanted, config, entropy, done_tokens, writer, max_compositions,
            concurrency, show_progress, float(delta), assumptions,
        )
    finally:
        if writer is not None:
            writer.close()


def _open_checkpoint(
    path: str | os.PathLike[str] | None,
    resume: bool,
    params: Mapping[str, Any],
    seed: int | None,
) -> tuple[CheckpointState, CheckpointWriter | None]:
    entropy = np.random.SeedSequence(seed).entropy
    if path is None:
        if resume:
            raise ValueError("resume=True needs a checkpoint_path to resume from.")
        return CheckpointState(params=dict(params), entropy=entropy), None
    path = Path(path)
    if resume and not path.exists():
        raise CheckpointError(
            f"nothing to resume: checkpoint {str(path)!r} not found. Leave out --resume to start a "
            "new run, or give the checkpoint of the run to continue."
        )
    if path.is_dir():
        raise CheckpointError(f"checkpoint path {str(path)!r} is a directory: give a file path.")
    if resume:
        state = read_checkpoint(path)
        _compare_params(path, state.params, params)
        if seed is not None and state.entropy != entropy:
            raise CheckpointError(
                f"checkpoint {str(path)!r} was written with another seed: repeat the original "
                "--seed, or leave it out to use the checkpoint's."
            )
        logger.info("Resuming from checkpoint %s: %d noisy selections recorded.", path, sum(state.selections().values()))
        return state, CheckpointWriter.open_for_resume(path, state)
    writer = CheckpointWriter.create(path, params, entropy)
    return CheckpointState(params=dict(params), entropy=entropy), writer


async def _run_examples(
    model: NextTokenModel,
    pools: Mapping[str, Sequence[str]],
    wanted: Mapping[str, int],
    config: GenerationConfig,
    entropy: int,
    done_tokens: Mapping[tuple[str, int], Sequence[str]],
    writer: CheckpointWriter | None,
    max_compositions: Mapping[str, int] | None,
    concurrency: int,
    show_progress: bool,
    delta: float,
    assumptions: Any,
) -> GenerationResult:
    labels = list(pools)
    spent: dict[str, int] = {}
    for (label, _), tokens in done_tokens.items():
        spent[label] = spent.get(label, 0) + len(tokens)
    ledger = _Ledger(spent, max_compositions)
    finished: dict[tuple[str, int], SyntheticExample] = {}
    pending = []
    for label_index, label in enumerate(labels):
        for index in range(wanted[label]):
            tokens = list(done_tokens.get((label, index), ()))
            if tokens and (len(tokens) >= config.t_max or is_stop_token(tokens[-1])):
                body = tokens[:-1] if is_stop_token(tokens[-1]) else tokens
                finished[(label, index)] = SyntheticExample(label, index, "".join(body).strip(), len(tokens))
            else:
                pending.append((label_index, label, index, tokens))

    total = sum(wanted.values())
    bar = _progress_bar(total, len(finished), show_progress)
    bar.set_postfix_str(f"tokens={ledger.total}", refresh=False)
    semaphore = asyncio.Semaphore(concurrency)

    def on_token(label: str, index: int, step: int, token: str) -> None:
        if writer is not None:
            writer.record_token(label, index, step, token)
        bar.set_postfix_str(f"tokens={ledger.total}", refresh=False)

    async def run_one(label_index: int, label: str, index: int, tokens: list[str]) -> None:
        async with semaphore:
            example = await agenerate_example(
                model, pools[label], label, config,
                entropy=entropy, label_index=label_index, example_index=index,
                tokens=tokens, on_token=on_token, before_step=ledger.reserve,
            )
        if writer is not None:
            writer.record_example(label, index, example.text, example.selections)
        finished[(label, index)] = example
        bar.update(1)

    tasks = [asyncio.ensure_future(run_one(*item)) for item in pending]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        bar.close()

    unknown = sorted({label for label, _ in done_tokens} - set(labels))
    if unknown:
        raise CheckpointError(
            f"the checkpoint records selections for label(s) {unknown} that the data does not contain; "
            "it was changed by something other than dpsynth."
        )
    ordered = [finished[(label, index)] for label in labels for index in range(wanted[label])]
    selections = {label: ledger.spent.get(label, 0) for label in labels if wanted[label]}
    pool_sizes = {label: len(pools[label]) for label in selections}
    logger.info("Generated %d examples with %d noisy selections.", len(ordered), sum(selections.values()))
    privacy = _account(config, pool_sizes, selections, delta, assumptions)
    with warnings.catch_warnings():
        # The same assumptions were just accounted, and their warnings raised once.
        warnings.simplefilter("ignore", PrivacyWarning)
        worst_case = _account(
            config, pool_sizes, {label: wanted[label] * config.t_max for label in selections}, delta, assumptions
        )
    return GenerationResult(
        examples=tuple(Example(item.text, item.label) for item in ordered),
        sizes={label: wanted[label] for label in selections},
        selections=selections,
        pool_sizes=pool_sizes,
        config=config,
        model=model.name,
        delta=delta,
        privacy=privacy,
        worst_case=worst_case,
    )


def run_sync(awaitable_factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion, also from inside a running event loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(awaitable_factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(lambda: asyncio.run(awaitable_factory())).result()


def generate(
    records: Sequence[Example],
    model: NextTokenModel,
    sizes: int | Mapping[str, int],
    config: GenerationConfig | None = None,
    **options: Any,
) -> GenerationResult:
    """Generate a differentially private synthetic dataset.

    Parameters
    ----------
    records
        The private labelled records.
    model
        The next-token model, such as :class:`dpsynth.incontext.InContextModel`.
    sizes
        Examples per label: an int for every label, or a mapping ``label -> count``.
    config
        The mechanism's parameters; :class:`GenerationConfig` by default.
    seed : int, optional
        Seed of the run's ``numpy.random.SeedSequence``; the same seed gives the same
        dataset whatever the concurrency. Keep it secret: it determines the noise.
    delta : float, optional
        The delta of the reported epsilon; by default well below ``1 / len(records)``.
    concurrency : int
        Maximum number of examples generated at once.
    checkpoint_path : path, optional
        Append-only checkpoint and privacy ledger; see :mod:`dpsynth.checkpoint`.
    resume : bool
        Continue the run recorded in ``checkpoint_path``.
    max_compositions : mapping, optional
        Per-label cap on noisy selections; a selection beyond it raises
        :class:`BudgetExhaustedError`.
    on_heading : str
        ``"reject"`` or ``"neutralise"`` private texts with a heading line.
    show_progress : bool
        Show a ``tqdm`` progress bar of examples done and tokens selected.
    assumptions : dpsynth.accounting.PrivacyAssumptions, optional
        The neighbouring relation and sampling scheme of the reported epsilon;
        add/remove adjacency and ``config.sampling`` by default.
    """
    return run_sync(lambda: agenerate(records, model, sizes, config, **options))
