"""A class with the interface of LlamaIndex's ``DiffPrivateSimpleDatasetPack``.

Users of the pack know ``run``/``arun`` with per-label ``sizes``, ``t_max``,
``sigma``, ``num_splits`` and ``num_samples_per_split``, and
``generate_dp_synthetic_example`` for one example. :class:`SyntheticDatasetGenerator`
keeps those names and defaults them to values that give a useful demo. It runs
:func:`dpsynth.generation.agenerate` underneath, so every result carries its
privacy account.

Differences from the pack: the model is any :class:`dpsynth.models.NextTokenModel`
(no tokenizer is needed), concurrency replaces the batch size and semaphore,
a seed makes a run reproducible, and ``planned_epsilon`` replaces
``sigma_to_eps`` with the accounting of the planned run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .budget import plan_run
from .data import Example, label_counts
from .generation import GenerationConfig, GenerationResult, agenerate, run_sync
from .models import NextTokenModel
from .prompts import PromptBundle

__all__ = ["SyntheticDatasetGenerator"]

_DEFAULTS = GenerationConfig()


class SyntheticDatasetGenerator:
    """Generate differentially private synthetic examples from one private dataset.

    Parameters
    ----------
    model
        The next-token model, such as :class:`dpsynth.incontext.InContextModel`
        or a backend from :func:`dpsynth.backends.model_from_spec`.
    records
        The private labelled records.
    prompt_bundle
        The prompt wording.
    concurrency
        Maximum number of examples generated at once.
    top_k, mechanism, sampling
        See :class:`dpsynth.generation.GenerationConfig`.
    delta
        The delta of reported epsilons; by default well below ``1 / len(records)``.
    checkpoint_path
        Checkpoint and privacy ledger of :meth:`run`; none by default.
    show_progress
        Show a progress bar.
    """

    def __init__(
        self,
        model: NextTokenModel,
        records: Sequence[Example],
        prompt_bundle: PromptBundle | None = None,
        *,
        concurrency: int = 16,
        top_k: int = _DEFAULTS.top_k,
        mechanism: str = _DEFAULTS.mechanism,
        sampling: str = _DEFAULTS.sampling,
        delta: float | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        show_progress: bool = True,
    ) -> None:
        self.model = model
        self.records = list(records)
        self.prompt_bundle = prompt_bundle or PromptBundle()
        self.concurrency = concurrency
        self.top_k = top_k
        self.mechanism = mechanism
        self.sampling = sampling
        self.delta = delta
        self.checkpoint_path = checkpoint_path
        self.show_progress = show_progress
        self.last_result: GenerationResult | None = None

    @property
    def labels(self) -> list[str]:
        """The labels of the private records, sorted."""
        return list(label_counts(self.records))

    def _config(self, t_max: int, sigma: float, num_splits: int, num_samples_per_split: int) -> GenerationConfig:
        return GenerationConfig(
            t_max=t_max,
            sigma=sigma,
            num_splits=num_splits,
            num_samples_per_split=num_samples_per_split,
            top_k=self.top_k,
            mechanism=self.mechanism,
            sampling=self.sampling,
            bundle=self.prompt_bundle,
        )

    async def arun(
        self,
        sizes: int | Mapping[str, int],
        t_max: int = _DEFAULTS.t_max,
        sigma: float = _DEFAULTS.sigma,
        num_splits: int = _DEFAULTS.num_splits,
        num_samples_per_split: int = _DEFAULTS.num_samples_per_split,
        *,
        seed: int | None = None,
        resume: bool = False,
    ) -> GenerationResult:
        """Generate ``sizes`` examples per label; see :func:`dpsynth.generation.generate`."""
        config = self._config(t_max, sigma, num_splits, num_samples_per_split)
        return await self._agenerate(sizes, config, seed, self.checkpoint_path, resume)

    async def _agenerate(
        self,
        sizes: int | Mapping[str, int],
        config: GenerationConfig,
        seed: int | None,
        checkpoint_path: str | os.PathLike[str] | None,
        resume: bool,
    ) -> GenerationResult:
        result = await agenerate(
            self.records,
            self.model,
            sizes,
            config,
            seed=seed,
            delta=self.delta,
            concurrency=self.concurrency,
            checkpoint_path=checkpoint_path,
            resume=resume,
            show_progress=self.show_progress,
        )
        self.last_result = result
        return result

    def run(
        self,
        sizes: int | Mapping[str, int],
        t_max: int = _DEFAULTS.t_max,
        sigma: float = _DEFAULTS.sigma,
        num_splits: int = _DEFAULTS.num_splits,
        num_samples_per_split: int = _DEFAULTS.num_samples_per_split,
        *,
        seed: int | None = None,
        resume: bool = False,
    ) -> GenerationResult:
        """Generate ``sizes`` examples per label and return them with their privacy account."""
        return run_sync(
            lambda: self.arun(sizes, t_max, sigma, num_splits, num_samples_per_split, seed=seed, resume=resume)
        )

    async def agenerate_dp_synthetic_example(
        self,
        label: str,
        t_max: int = _DEFAULTS.t_max,
        sigma: float = _DEFAULTS.sigma,
        num_splits: int = _DEFAULTS.num_splits,
        num_samples_per_split: int = _DEFAULTS.num_samples_per_split,
        *,
        seed: int | None = None,
    ) -> Example:
        """Generate one example of ``label``. Its privacy account is in :attr:`last_result`.

        Every call is a separate release: the epsilons of several calls compose.
        The example is not checkpointed, so that calls do not collide on one file.
        """
        config = self._config(t_max, sigma, num_splits, num_samples_per_split)
        result = await self._agenerate({label: 1}, config, seed, None, False)
        return result.examples[0]

    def generate_dp_synthetic_example(
        self,
        label: str,
        t_max: int = _DEFAULTS.t_max,
        sigma: float = _DEFAULTS.sigma,
        num_splits: int = _DEFAULTS.num_splits,
        num_samples_per_split: int = _DEFAULTS.num_samples_per_split,
        *,
        seed: int | None = None,
    ) -> Example:
        """Generate one example of ``label``; see :meth:`agenerate_dp_synthetic_example`."""
        return run_sync(
            lambda: self.agenerate_dp_synthetic_example(
                label, t_max, sigma, num_splits, num_samples_per_split, seed=seed
            )
        )

    def planned_epsilon(
        self,
        sizes: int | Mapping[str, int],
        t_max: int = _DEFAULTS.t_max,
        sigma: float = _DEFAULTS.sigma,
        num_splits: int = _DEFAULTS.num_splits,
        num_samples_per_split: int = _DEFAULTS.num_samples_per_split,
    ) -> Any:
        """Return the privacy account of a planned run whose every example reaches ``t_max``.

        This replaces the pack's ``sigma_to_eps``: the sampling rate is
        ``M * N / n`` of each label's pool, every noisy selection is a composition,
        and the dataset's epsilon is the maximum over labels.
        """
        config = self._config(t_max, sigma, num_splits, num_samples_per_split)
        return plan_run(label_counts(self.records), sizes, config, delta=self.delta).worst_case
