"""The ``/v1/completions`` backend: a token step's prompts go out together in one request.

Coalescing. Examples generated concurrently reach their token steps at nearly the
same moment, because their previous step's responses arrive together. By default
the backend collects the prompts of every call made in the same event-loop
iteration and sends them as one request (split into requests of at most
``max_batch`` prompts), then returns to each call its own candidates. A wave of 20
examples then costs one HTTP request instead of 20. The candidates are the same,
because the server scores every prompt on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import openai

from ..models import TopLogprobs, validate_top_k
from .base import OpenAIEndpointModel
from .keys import is_openai_url
from .responses import completions_candidates

__all__ = ["DEFAULT_MAX_BATCH", "OPENAI_COMPLETIONS_MAX_TOP_K", "OpenAICompletionsModel"]

OPENAI_COMPLETIONS_MAX_TOP_K = 5
"""The maximum number of candidates OpenAI's completions endpoint returns per token."""

DEFAULT_MAX_BATCH = 128
"""The default maximum number of prompts per request (``max_batch``)."""
# NOTE: 128 is a cautious choice, not a documented server limit; vLLM and
# llama.cpp accept longer prompt lists, and OpenAI documents none.

_SAMPLING_TEMPERATURE = 1.0

_Send = Callable[[list[str], int], Coroutine[Any, Any, list[dict[str, float]]]]


class _Coalescer:
    """Collect the calls of one event-loop iteration and serve them from shared requests."""

    def __init__(self, send: _Send, max_batch: int) -> None:
        self._send = send
        self._max_batch = max_batch
        self._pending: dict[int, list[tuple[list[str], asyncio.Future[list[dict[str, float]]]]]] = {}

    async def submit(self, prompts: list[str], top_k: int) -> list[dict[str, float]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[dict[str, float]]] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.setdefault(top_k, []).append((prompts, future))
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        for top_k, calls in pending.items():
            asyncio.ensure_future(self._answer(calls, top_k))

    async def _answer(self, calls: list[tuple[list[str], asyncio.Future[list[dict[str, float]]]]], top_k: int) -> None:
        prompts = [prompt for call_prompts, _ in calls for prompt in call_prompts]
        batches = [prompts[start:start + self._max_batch] for start in range(0, len(prompts), self._max_batch)]
        try:
            results = await asyncio.gather(*(self._send(batch, top_k) for batch in batches))
        except BaseException as error:  # noqa: BLE001 - every waiting call gets the failure
            for _, future in calls:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        answers = [candidates for batch in results for candidates in batch]
        start = 0
        for call_prompts, future in calls:
            if not future.done():
                future.set_result(answers[start:start + len(call_prompts)])
            start += len(call_prompts)


class OpenAICompletionsModel(OpenAIEndpointModel):
    """Next-token logprobs from an OpenAI-compatible ``/v1/completions`` endpoint.

    A call sends its prompts (a token step's public prompt and every split's
    prompt) in the ``prompt`` list of one request, with ``max_tokens=1``,
    ``logprobs=top_k`` and ``temperature=1``, and matches the returned choices to
    the prompts by their ``index``. Temperature 1 makes servers that report
    probabilities after temperature scaling report the model's own distribution.
    Calls made together share requests; see the module notes.

    Parameters
    ----------
    model, client, base_url, api_key_env, concurrency, timeout, max_retries, malformed_retries
        As in :class:`~dpsynth.backends.base.OpenAIEndpointModel`.
    max_top_k
        The maximum number of candidates the server returns per token. None gives
        5 for OpenAI's API and "unknown" for other servers, whose cap (vLLM's
        default is 20) then comes back as an error that names it.
    max_batch
        The maximum number of prompts per request; more are split into
        concurrent requests.
    coalesce
        Send the calls of one event-loop iteration together; False sends each
        call as its own requests.
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
        max_batch: int = DEFAULT_MAX_BATCH,
        coalesce: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(model, client, base_url, api_key_env, max_top_k, **options)
        if max_top_k is None and is_openai_url(self.base_url):
            self._max_top_k = OPENAI_COMPLETIONS_MAX_TOP_K
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch={max_batch!r} is invalid: give a whole number, 1 or more.")
        self.max_batch = max_batch
        self.coalesce = bool(coalesce)

    async def top_logprobs(self, prompts: Sequence[str], top_k: int) -> list[TopLogprobs]:
        """Return the ``top_k`` next-token candidates of each prompt, in prompt order."""
        validate_top_k(self, top_k)
        prompts = list(prompts)
        if not prompts:
            return []
        if self.coalesce:
            state = self._loop_state()
            if state.batcher is None:
                state.batcher = _Coalescer(self._complete, self.max_batch)
            return list(await state.batcher.submit(prompts, top_k))
        batches = [prompts[start:start + self.max_batch] for start in range(0, len(prompts), self.max_batch)]
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

        return await self._request(send, lambda body: completions_candidates(body, len(prompts)), top_k, prompts)

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
