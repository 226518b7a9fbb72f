"""Reading next-token candidates out of OpenAI-compatible response bodies.

Servers report the top logprobs of the first generated token in two shapes:

- the legacy completions shape, ``choice["logprobs"]["top_logprobs"][0]``, a
  mapping ``token -> logprob`` (OpenAI, vLLM);
- the chat shape, ``choice["logprobs"]["content"][0]["top_logprobs"]``, a list of
  ``{"token": ..., "logprob": ...}`` entries (every chat endpoint, and llama.cpp's
  ``llama-server`` on ``/v1/completions`` too).

Both are accepted on both endpoints. A logprob at or below ``-9999`` is the
sentinel OpenAI sends for a probability that underflows. The backends drop it and
``-inf``, which the mechanism reads as probability zero. A NaN or ``+inf`` logprob,
or one above :data:`LOGPROB_TOLERANCE` (a probability above 1), makes the response
malformed, and so do candidates whose probabilities add up to more than
``1 + MASS_TOLERANCE``. Two entries with the same token string (different token
ids that decode to the same text) are merged by adding their probabilities.
Messages about invalid values name no token and no value, because both come from
prompts over private records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "LOGPROB_SENTINEL",
    "LOGPROB_TOLERANCE",
    "MASS_TOLERANCE",
    "InvalidLogprobs",
    "MalformedResponse",
    "MissingLogprobs",
    "chat_candidates",
    "choice_candidates",
    "completions_candidates",
]

LOGPROB_SENTINEL = -9999.0
"""Logprobs at or below this value mean probability zero."""

LOGPROB_TOLERANCE = 1e-6
"""The largest logprob accepted: 0 (probability 1) plus rounding."""

MASS_TOLERANCE = 1e-2
"""How far the candidates' probabilities may add up beyond 1 before a response is malformed."""
# NOTE: 1e-2 is a loose allowance for servers that round logprobs, not a measured bound.


class MalformedResponse(ValueError):
    """A response body that lacks the fields the mechanism needs.

    The message describes the shape, never the prompt or the candidates.
    """


class MissingLogprobs(MalformedResponse):
    """A response whose choices carry no top logprobs."""

    def __init__(self, missing: int, total: int) -> None:
        super().__init__(f"{missing} of {total} choice(s) had no top logprobs")
        self.missing = missing
        self.total = total


class InvalidLogprobs(MalformedResponse):
    """A response whose logprobs are not the logs of probabilities (NaN, ``+inf``, above 0)."""


def _add_candidate(candidates: dict[str, float], token: object, logprob: object) -> None:
    if not isinstance(token, str):
        raise MalformedResponse(f"a candidate token is {type(token).__name__}, not a string")
    if isinstance(logprob, bool) or not isinstance(logprob, (int, float)):
        raise MalformedResponse(f"a candidate logprob is {type(logprob).__name__}, not a number")
    value = float(logprob)
    if math.isnan(value) or value == math.inf:
        raise InvalidLogprobs("a candidate logprob is NaN or +inf")
    if value > LOGPROB_TOLERANCE:
        raise InvalidLogprobs("a candidate logprob is above 0, a probability above 1")
    if value <= LOGPROB_SENTINEL:
        return
    previous = candidates.get(token)
    if previous is not None:
        value = float(max(previous, value) + math.log1p(math.exp(-abs(previous - value))))
    candidates[token] = value


def _check_mass(candidates: dict[str, float]) -> dict[str, float]:
    if math.fsum(math.exp(value) for value in candidates.values()) > 1 + MASS_TOLERANCE:
        raise InvalidLogprobs("the candidates' probabilities add up to more than 1")
    return candidates


def _from_mapping(entries: Mapping[Any, Any]) -> dict[str, float]:
    candidates: dict[str, float] = {}
    for token, logprob in entries.items():
        _add_candidate(candidates, token, logprob)
    return candidates


def _from_entries(entries: object) -> dict[str, float]:
    if not isinstance(entries, list):
        return {}
    candidates: dict[str, float] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise MalformedResponse(f"a top_logprobs entry is {type(entry).__name__}, not an object")
        _add_candidate(candidates, entry.get("token"), entry.get("logprob"))
    return candidates


def choice_candidates(logprobs: object) -> dict[str, float]:
    """Return the first token's candidates from a choice's ``logprobs`` field, in either shape.

    An absent or null field, or one without candidates, gives an empty dict.

    Raises
    ------
    MalformedResponse
        A candidate is not a string token with a number logprob, a logprob is NaN,
        ``+inf`` or above :data:`LOGPROB_TOLERANCE`, or the probabilities add up to
        more than ``1 + MASS_TOLERANCE``.
    """
    if not isinstance(logprobs, Mapping):
        return {}
    legacy = logprobs.get("top_logprobs")
    if isinstance(legacy, list) and legacy and isinstance(legacy[0], Mapping):
        return _check_mass(_from_mapping(legacy[0]))
    content = logprobs.get("content")
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        return _check_mass(_from_entries(content[0].get("top_logprobs")))
    return {}


def _choices(body: object) -> list[Mapping[str, Any]]:
    if not isinstance(body, Mapping):
        raise MalformedResponse(f"the body is {type(body).__name__}, not a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse("the body has no choices")
    if not all(isinstance(choice, Mapping) for choice in choices):
        raise MalformedResponse("a choice is not a JSON object")
    return choices


def completions_candidates(body: object, num_prompts: int) -> list[dict[str, float]]:
    """Return one candidate dict per prompt from a ``/v1/completions`` body, matched by ``index``.

    Raises
    ------
    MissingLogprobs
        Some choices carry no candidates.
    MalformedResponse
        The choices do not match the prompts one to one by ``index``.
    """
    by_index: dict[int, dict[str, float]] = {}
    for choice in _choices(body):
        index = choice.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < num_prompts:
            raise MalformedResponse(f"a choice has index {index!r}, outside 0 to {num_prompts - 1}")
        if index in by_index:
            raise MalformedResponse(f"two choices have index {index}")
        by_index[index] = choice_candidates(choice.get("logprobs"))
    if len(by_index) != num_prompts:
        raise MalformedResponse(f"{len(by_index)} choice(s) came back for {num_prompts} prompt(s)")
    missing = sum(1 for candidates in by_index.values() if not candidates)
    if missing:
        raise MissingLogprobs(missing, num_prompts)
    return [by_index[index] for index in range(num_prompts)]


def chat_candidates(body: object) -> dict[str, float]:
    """Return the candidates of the first choice of a ``/v1/chat/completions`` body.

    Raises
    ------
    MissingLogprobs
        The choice carries no candidates.
    MalformedResponse
        The body has no choices.
    """
    # One prompt per request and n=1, so the body contains one choice.
    candidates = choice_candidates(_choices(body)[0].get("logprobs"))
    if not candidates:
        raise MissingLogprobs(1, 1)
    return candidates
