"""The worst-case canary model and the two merged vectors an audit compares.

The two neighbouring datasets differ in one canary record. For a prompt that
contains the canary record, the audit's model returns a next-token distribution
with all its mass on the canary token. For every other prompt, the public
prompt included, it returns the public distribution ``p0``. That distribution
puts mass ``1 - (k - 1) * floor`` on the public token and ``floor`` on each of
the other ``k - 1`` tokens of the universe. The floor keeps the canary token in
the public top-k, so that it is in the universe at all.

At one token step, the merged vector is then ``p0`` when the canary is not in
the sample and ``p0 + (e_c - p0) / M`` when it is (one split of ``M`` holds it).
The two differ by ``||e_c - p0|| / M``, which tends to the L2 sensitivity
``sqrt(2) / M`` as the floor tends to 0: no model can move the merged vector
further. :func:`audit_vectors` computes both vectors with the functions that
generation uses (prompts, universe, restriction, merge), from the model's
answers to real prompts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..distributions import merge, split_distribution, token_universe
from ..prompts import PromptBundle, few_shot_prompt, zero_shot_prompt

__all__ = [
    "AUDIT_LABEL",
    "CANARY_RECORD",
    "CANARY_TOKEN",
    "PUBLIC_TOKEN",
    "AuditVectors",
    "CanaryModel",
    "audit_vectors",
]

CANARY_RECORD = "audit canary record 4f1c9e"
"""The text of the canary record the audit adds to the data."""

CANARY_TOKEN = " canary"
"""The token the model predicts when a prompt contains the canary record."""

PUBLIC_TOKEN = " public"
"""The token the public distribution puts almost all its mass on."""

AUDIT_LABEL = "audit"
"""The label of the audit's records and prompts."""

PUBLIC_FLOOR = 1e-9
"""Probability of each token of the universe other than the public token under ``p0``."""


class CanaryModel:
    """A worst-case next-token model for auditing, following the
    :class:`dpsynth.models.NextTokenModel` protocol.

    Parameters
    ----------
    universe_size
        ``k``: the number of tokens with positive public probability, 2 or more:
        the public token, the canary token and ``k - 2`` others.
    canary
        The canary record's text. A prompt that contains it gets the canary
        distribution; any other prompt gets ``p0``.
    floor
        The public probability of each token other than the public token, in
        (0, 1 / k).
    """

    def __init__(self, universe_size: int = 2, canary: str = CANARY_RECORD, floor: float = PUBLIC_FLOOR) -> None:
        if isinstance(universe_size, bool) or not isinstance(universe_size, (int, np.integer)) or universe_size < 2:
            raise ValueError(
                f"universe_size={universe_size!r} is invalid: give a whole number, 2 or more "
                "(the public token and the canary token)."
            )
        if not canary.strip() or "\n" in canary:
            raise ValueError("canary is invalid: give a non-empty single line of text.")
        if not 0.0 < floor < 1.0 / universe_size:
            raise ValueError(f"floor={floor!r} is invalid: give a probability in (0, 1/{universe_size}).")
        self.universe_size = int(universe_size)
        self.canary = canary
        others = [CANARY_TOKEN] + [f" other{index}" for index in range(1, self.universe_size - 1)]
        public = {PUBLIC_TOKEN: math.log1p(-(self.universe_size - 1) * floor)}
        public.update({token: math.log(floor) for token in others})
        self._public = public

    @property
    def name(self) -> str:
        """The model's name in reports: ``"canary"``."""
        return "canary"

    @property
    def max_top_k(self) -> int:
        """The universe size: the model never returns more candidates."""
        return self.universe_size

    def next_token_logprobs(self, prompt: str) -> dict[str, float]:
        """Return the next-token logprobs: the canary token alone, or ``p0``."""
        if self.canary in prompt:
            return {CANARY_TOKEN: 0.0}
        return dict(self._public)

    async def top_logprobs(self, prompts: Sequence[str], top_k: int) -> list[dict[str, float]]:
        """Return the ``top_k`` most probable next tokens of each prompt, in prompt order."""
        from ..models import validate_top_k

        validate_top_k(self, top_k)
        answers = []
        for prompt in prompts:
            ranked = sorted(self.next_token_logprobs(prompt).items(), key=lambda item: (-item[1], item[0]))
            answers.append(dict(ranked[:top_k]))
        return answers


@dataclass(frozen=True)
class AuditVectors:
    """The merged vectors of one token step on the two neighbouring datasets.

    Attributes
    ----------
    tokens
        The token universe, most probable public token first.
    without_canary
        The merged vector when the canary is not in the step's sample: ``p0``.
    with_canary
        The merged vector when one split contains the canary: ``p0 + (e_c - p0) / M``.
    canary_index
        The position of the canary token in ``tokens``.
    """

    tokens: tuple[str, ...]
    without_canary: np.ndarray
    with_canary: np.ndarray
    canary_index: int

    @property
    def distance(self) -> float:
        """The L2 distance between the two merged vectors, just below ``sqrt(2) / M``."""
        return float(np.linalg.norm(self.with_canary - self.without_canary))


def audit_vectors(num_splits: int, universe_size: int = 2, bundle: PromptBundle = PromptBundle()) -> AuditVectors:
    """Compute the two merged vectors from the canary model's answers to real prompts.

    The public prompt gives the universe and ``p0``. A few-shot prompt with the
    canary record and one with an ordinary record give the two split vectors.
    The canary's split is merged with ``M - 1`` ordinary splits.
    """
    if isinstance(num_splits, bool) or not isinstance(num_splits, (int, np.integer)) or num_splits < 1:
        raise ValueError(f"num_splits={num_splits!r} is invalid: give a whole number, 1 or more.")
    model = CanaryModel(universe_size)
    universe = token_universe(model.next_token_logprobs(zero_shot_prompt(bundle, AUDIT_LABEL)))
    canary_prompt = few_shot_prompt(bundle, [(AUDIT_LABEL, model.canary)], AUDIT_LABEL)
    ordinary_prompt = few_shot_prompt(bundle, [(AUDIT_LABEL, "an ordinary record")], AUDIT_LABEL)
    canary_split, _ = split_distribution(model.next_token_logprobs(canary_prompt), universe)
    ordinary_split, _ = split_distribution(model.next_token_logprobs(ordinary_prompt), universe)
    without_canary = merge([ordinary_split] * num_splits)
    with_canary = merge([canary_split] + [ordinary_split] * (num_splits - 1))
    return AuditVectors(universe.tokens, without_canary, with_canary, universe.tokens.index(CANARY_TOKEN))
