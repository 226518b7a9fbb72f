"""OpenAI-compatible backends: next-token logprobs from OpenAI, vLLM, llama.cpp and others.

- :class:`OpenAICompletionsModel` queries ``/v1/completions``, one request per token
  step for all its prompts.
- :class:`OpenAIChatModel` queries ``/v1/chat/completions``, one request per prompt.
- :func:`model_from_spec` turns the command line's ``--model`` value into a model.
- :func:`redact_url` removes the credentials a base URL may carry, for messages,
  logs and reports.

See ``docs/endpoints.md`` for how to point them at each server.
"""

from __future__ import annotations

from typing import Any

from ..models import NextTokenModel
from .base import OpenAIEndpointModel, RequestStats
from .chat import CHAT_SYSTEM_PROMPT, OpenAIChatModel
from .completions import OpenAICompletionsModel
from .keys import redact_url

__all__ = [
    "CHAT_SYSTEM_PROMPT",
    "OpenAIChatModel",
    "OpenAICompletionsModel",
    "OpenAIEndpointModel",
    "RequestStats",
    "model_from_spec",
    "redact_url",
]

_SPEC_FORMS = "'mock', 'openai:MODEL' (completions) or 'openai-chat:MODEL' (chat completions)"


def model_from_spec(
    spec: str,
    *,
    base_url: str | None = None,
    api_key_env: str | None = "OPENAI_API_KEY",
    concurrency: int = 16,
    **kwargs: Any,
) -> NextTokenModel:
    """Build the model that ``spec`` names.

    Parameters
    ----------
    spec
        ``"mock"`` for the offline :class:`~dpsynth.incontext.InContextModel`,
        ``"openai:MODEL"`` for :class:`OpenAICompletionsModel`, or
        ``"openai-chat:MODEL"`` for :class:`OpenAIChatModel`. MODEL is everything
        after the first colon, so names such as ``llama3:8b`` work.
    base_url, api_key_env, concurrency, **kwargs
        Passed to the backend; ``concurrency`` bounds its requests in flight. The
        in-process ``"mock"`` model takes none of them but ``concurrency``, which
        it ignores.

    Raises
    ------
    ValueError
        ``spec`` has none of the three forms, or ``base_url`` comes with ``"mock"``.
    """
    if not isinstance(spec, str):
        raise TypeError(f"model spec is {type(spec).__name__}: give a string, {_SPEC_FORMS}.")
    if spec == "mock":
        if base_url is not None:
            raise ValueError(
                f"--base-url {redact_url(base_url)!r} does not apply to the in-process model 'mock'. To use a "
                "server, name its endpoint: --model openai:MODEL or openai-chat:MODEL (for "
                "dpsynth serve-mock, MODEL can be mock)."
            )
        if kwargs:
            raise TypeError(f"options {sorted(kwargs)} apply to the openai backends, not to 'mock'.")
        from ..incontext import InContextModel

        return InContextModel()
    prefix, _, model = spec.partition(":")
    backends = {"openai": OpenAICompletionsModel, "openai-chat": OpenAIChatModel}
    if prefix not in backends or not model.strip():
        raise ValueError(f"model spec {spec!r} is invalid: use {_SPEC_FORMS}.")
    return backends[prefix](model, base_url=base_url, api_key_env=api_key_env, concurrency=concurrency, **kwargs)
