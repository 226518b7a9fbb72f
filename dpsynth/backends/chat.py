"""The ``/v1/chat/completions`` backend: one request per prompt, sent concurrently.

Framing. A chat model answers messages instead of continuing a text, so each
completion prompt goes out as one user message, after a system message that asks
for the continuation alone (:data:`CHAT_SYSTEM_PROMPT`). The logprobs of the
reply's first token are the next-token candidates. Chat models follow this
framing less reliably than completion models follow the raw prompt: they may
open with a greeting, quote the prompt or start a new line, and every such
reply wastes a token step or ends the text early.

Word boundaries. A reply starts a new message, so its first token carries no
leading space where a completion model would put one (``"fever"``, not
``" fever"``). When the prompt ends in a non-space character, the backend adds the
space to candidates that start with a letter or digit, so that the generated
words stay apart; pass ``restore_word_space=False`` to keep tokens as they come.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any

import openai

from ..models import TopLogprobs, validate_top_k
from .base import OpenAIEndpointModel
from .responses import chat_candidates

__all__ = ["CHAT_SYSTEM_PROMPT", "OPENAI_CHAT_MAX_TOP_K", "OpenAIChatModel", "restore_word_space"]

OPENAI_CHAT_MAX_TOP_K = 20
"""The most ``top_logprobs`` OpenAI's chat endpoint returns per token; vLLM's default cap too."""

CHAT_SYSTEM_PROMPT = (
    "You continue documents. The user message is the beginning of a document. Reply "
    "with the text that comes next in it, exactly as it would appear, and nothing else."
)
"""The system message sent before each prompt."""

_TOKEN_LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")


def restore_word_space(candidates: Mapping[str, float], prompt: str) -> dict[str, float]:
    """Prefix a space to candidates that start a word when ``prompt`` ends in a non-space.

    Two candidates that become the same token are merged by adding their probabilities.
    """
    if not prompt or prompt[-1].isspace():
        return dict(candidates)
    restored: dict[str, float] = {}
    for token, logprob in candidates.items():
        if token[:1].isalnum():
            token = " " + token
        previous = restored.get(token)
        if previous is not None:
            logprob = max(previous, logprob) + math.log1p(math.exp(-abs(previous - logprob)))
        restored[token] = logprob
    return restored


class OpenAIChatModel(OpenAIEndpointModel):
    """Next-token logprobs from an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Each prompt is one request with ``logprobs=true``, ``top_logprobs=top_k``,
    ``temperature=1`` and a limit of one generated token; a call sends its
    prompts concurrently, at most ``concurrency`` at a time.

    Parameters
    ----------
    model, client, base_url, api_key_env, concurrency, timeout, max_retries, malformed_retries
        As in :class:`~dpsynth.backends.base.OpenAIEndpointModel`.
    max_top_k
        The most candidates the server returns per token; 20 by default, OpenAI's
        limit and vLLM's default.
    system_prompt
        The system message before each prompt; None sends the prompt alone.
    token_limit_field
        ``"max_tokens"`` or ``"max_completion_tokens"``, the request field that
        limits the reply to one token. Newer OpenAI models accept only the second.
    restore_word_space
        Add the leading space that a reply's first word lacks; see the module notes.
    """

    endpoint_path = "chat/completions"
    spec_prefix = "openai-chat"

    def __init__(
        self,
        model: str,
        client: openai.AsyncOpenAI | None = None,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        max_top_k: int | None = OPENAI_CHAT_MAX_TOP_K,
        *,
        system_prompt: str | None = CHAT_SYSTEM_PROMPT,
        token_limit_field: str = "max_tokens",
        restore_word_space: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(model, client, base_url, api_key_env, max_top_k, **options)
        if token_limit_field not in _TOKEN_LIMIT_FIELDS:
            raise ValueError(
                f"token_limit_field={token_limit_field!r} is invalid: use 'max_tokens' or "
                "'max_completion_tokens'."
            )
        if system_prompt is not None and not isinstance(system_prompt, str):
            raise TypeError(f"system_prompt is {type(system_prompt).__name__}: give a string or None.")
        self.system_prompt = system_prompt
        self.token_limit_field = token_limit_field
        self.restore_word_space = restore_word_space

    def messages(self, prompt: str) -> list[dict[str, str]]:
        """Return the chat messages that frame ``prompt``."""
        framed = [{"role": "user", "content": prompt}]
        if self.system_prompt:
            framed.insert(0, {"role": "system", "content": self.system_prompt})
        return framed

    async def top_logprobs(self, prompts: Sequence[str], top_k: int) -> list[TopLogprobs]:
        """Return the ``top_k`` next-token candidates of each prompt, in prompt order."""
        validate_top_k(self, top_k)
        return list(await asyncio.gather(*(self._complete(prompt, top_k) for prompt in prompts)))

    async def _complete(self, prompt: str, top_k: int) -> dict[str, float]:
        limit = {self.token_limit_field: 1}

        def send(client: openai.AsyncOpenAI) -> Any:
            return client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=self.messages(prompt),
                logprobs=True,
                top_logprobs=top_k,
                temperature=1.0,
                n=1,
                **limit,
            )

        candidates = await self._request(send, chat_candidates, top_k, [prompt])
        return restore_word_space(candidates, prompt) if self.restore_word_space else candidates

    def _no_logprobs_advice(self) -> str:
        return (
            "Use a server that returns them on /v1/chat/completions (OpenAI, vLLM, llama.cpp's "
            "llama-server, TGI), or a completions endpoint that does with --model "
            f"openai:{self.model}."
        )

    def _cap_message(self, top_k: int, detail: str) -> str:
        return (
            f"{self._where()} rejected top_logprobs={top_k} with HTTP 400 ({detail}). OpenAI's "
            "chat endpoint returns at most 20 candidates per token, vLLM at most 20 unless "
            "started with a larger --max-logprobs, and some models none. Pass --top-k 20 or "
            "fewer, or --top-k 5 if the server caps lower."
        )
