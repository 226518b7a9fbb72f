"""The interface between the mechanism and a language model.

The mechanism needs one thing from a model: for each prompt of a batch, the
top-k candidates for the next token with their natural-log probabilities. Tokens
are strings with the leading-space convention of BPE tokenizers (``" fever"``,
``","``, ``"\\n"``). A backend may return fewer than ``top_k`` candidates; the
mechanism treats a missing candidate, and the ``-9999`` sentinel some servers
send, as probability zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["ModelError", "NextTokenModel", "TopLogprobs", "validate_top_k"]

TopLogprobs = Mapping[str, float]
"""Next-token candidates of one prompt: token -> natural-log probability."""


class ModelError(RuntimeError):
    """A model or endpoint failed to return usable next-token logprobs.

    The message names the endpoint and model and the change that fixes it. It never
    contains prompt text or an API key.
    """


@runtime_checkable
class NextTokenModel(Protocol):
    """A source of next-token logprobs for batches of prompts."""

    @property
    def name(self) -> str:
        """The model's name as reports show it, such as ``"mock"`` or ``"openai:gpt-3.5-turbo-instruct"``."""
        ...

    @property
    def max_top_k(self) -> int | None:
        """The largest ``top_k`` the model or endpoint can return, or None if unknown."""
        ...

    async def top_logprobs(self, prompts: Sequence[str], top_k: int) -> list[TopLogprobs]:
        """Return the ``top_k`` next-token candidates of each prompt, in prompt order."""
        ...


def validate_top_k(model: NextTokenModel, top_k: int) -> None:
    """Raise ValueError unless ``1 <= top_k <= model.max_top_k``."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k={top_k!r} is invalid: give a whole number of candidates, 1 or more.")
    limit = model.max_top_k
    if limit is not None and top_k > limit:
        raise ValueError(
            f"top_k={top_k} is more than model {model.name!r} returns (at most {limit}): "
            f"pass --top-k {limit} or fewer."
        )
