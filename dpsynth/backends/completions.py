"""The ``/v1/completions`` backend: one request per token step for all its prompts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import openai

from ..models import TopLogprobs, validate_top_k
from .base import OpenAIEndpointModel
from .keys import is_openai_url
from .responses import completions_candidates

__all__ = ["OPENAI_COMPLETIONS_MAX_TOP_K", "OpenAICompletionsModel"]

OPENAI_COMPLETIONS_MAX_TOP_K = 5
"""The most ``logprobs`` OpenAI's completions endpoint returns per token."""

_SAMPLING_TEMPERATURE = 1.0


class OpenAICompletionsModel(OpenAIEndpointModel):
    """Next-token logprobs from an OpenAI-compatible ``/v1/completions`` endpoint.

    A call sends all its prompts (a token step's public prompt and every split's
    prompt) as the ``prompt`` list of one request, with ``max_tokens=1``,
    ``logprobs=top_k`` and ``temperature=1``, and matches the returned choices to
    the prompts by their ``index``. Temperature 1 makes servers that report
    probabilities after temperature scaling report the model's own distribution.

    Parameters
    ----------
    model, client, base_url, api_key_env, concurrency, timeout, max_retries, malformed_retries
        As in :class:`~dpsynth.backends.base.OpenAIEndpointModel`.
    max_top_k
        The most candidates the server returns per token. None gives 5 for
        OpenAI's API and "unknown" for other servers, whose cap (vLLM's default
        is 20) then comes back as an error that names it.
    max_batch
        The most prompts per request; a longer call is split into concurrent
        requests. None sends every call as one request.
    """

    endpoint_path = "completions"
    spec_prefix = "openai"

    def __init__(
        self,
        model: str,
        client: openai.AsyncOpenAI | None = None,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        max_top_k: int | None = None,
        *,
        max_batch: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model, client, base_url, api_key_env, max_top_k, **options)
        if max_top_k is None and is_openai_url(self.base_url):
            self._max_top_k = OPENAI_COMPLETIONS_MAX_TOP_K
        if max_batch is not None and (isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1):
            raise ValueError(f"max_batch={max_batch!r} is invalid: give a whole number, 1 or more, or None.")
        self.max_batch = max_batch

    async def top_logprobs(self, prompts: Sequence[str], top_k: int) -> list[TopLogprobs]:
        """Return the ``top_k`` next-token candidates of each prompt, in prompt order."""
        validate_top_k(self, top_k)
        prompts = list(prompts)
        if not prompts:
            return []
        size = self.max_batch or len(prompts)
        batches = [prompts[start:start + size] for start in range(0, len(prompts), size)]
        results = await asyncio.gather(*(self._complete(batch, top_k) for batch in batches))
        return [candidates for batch in results for candidates in batch]

    async def _complete(self, prompts: list[str], top_k: int) -> list[dict[str, float]]:
        def send(client: openai.AsyncOpenAI) -> Any:
            return client.completions.with_raw_response.create(
                model=self.model,
                prompt=prompts,
                max_tokens=1,
                logprobs=top_k,
                temperature=_SAMPLING_TEMPERATURE,
                n=1,
            )

        return await self._request(send, lambda body: completions_candidates(body, len(prompts)), top_k)

    def _no_logprobs_advice(self) -> str:
        return (
            "Use a server that returns them on /v1/completions (OpenAI, vLLM, llama.cpp's "
            "llama-server), or try the chat endpoint with --model openai-chat:"
            f"{self.model}."
        )

    def _cap_message(self, top_k: int, detail: str) -> str:
        suggested = OPENAI_COMPLETIONS_MAX_TOP_K if is_openai_url(self.base_url) or top_k <= 20 else 20
        return (
            f"{self._where()} rejected logprobs={top_k} with HTTP 400 ({detail}). OpenAI's "
            "completions endpoint returns at most 5 candidates per token, and vLLM at most 20 "
            f"unless started with a larger --max-logprobs. Pass --top-k {suggested} or fewer."
        )
