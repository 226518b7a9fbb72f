"""What the completions and chat backends share: the client, retries and errors.

Retries. The ``openai`` client retries HTTP 408, 409, 429 and 5xx, timeouts and
connection errors with exponential backoff and honours ``Retry-After``; its
``max_retries`` and ``timeout`` are passed through. On top of that a backend
repeats a request whose response arrived but is unusable (no logprobs, missing
choices, a logprob that is NaN, ``+inf`` or above 0), at most
``malformed_retries`` times. Every retry is logged with counts
under the ``dpsynth.backends`` logger, never with prompt text. When retries run
out, the backend raises :class:`~dpsynth.models.ModelError` naming the endpoint,
the model and what to change.

Private text. Prompts carry private records, and servers often quote the request
in an HTTP error (a 400 that repeats the prompt it rejects). An error message
shows the server's message only when it shares no run of
:data:`PROMPT_QUOTE_LENGTH` letters and digits with any prompt of the failed
request; otherwise it shows the status and the error's ``type`` and ``code``.
The ``openai`` exception, which holds the whole response, is not chained to the
:class:`~dpsynth.models.ModelError`. The base URL appears through
:func:`~dpsynth.backends.keys.redact_url`, without credentials.

Event loops. The ``openai`` client's connection pool belongs to the event loop
that created it, and :func:`dpsynth.generation.generate` runs a new loop per call.
A backend therefore creates one client (and one concurrency semaphore) per event
loop, unless the caller passes a client of its own. It closes that client when
:meth:`OpenAIEndpointModel.aclose` is awaited, or when ``asyncio.run`` ends the
loop: a background task waits for the cancellation that ``asyncio.run`` sends to
every remaining task and closes the client then.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import openai

from ..models import ModelError
from .keys import _describe, read_api_key, redact_url, resolve_base_url
from .responses import InvalidLogprobs, MalformedResponse, MissingLogprobs

__all__ = ["PROMPT_QUOTE_LENGTH", "OpenAIEndpointModel", "RequestStats"]

logger = logging.getLogger("dpsynth.backends")

T = TypeVar("T")

_DETAIL_LIMIT = 300

PROMPT_QUOTE_LENGTH = 12
"""Letters and digits in a row that a server message may share with a prompt before it is withheld."""


@dataclass(frozen=True)
class RequestStats:
    """Traffic counts of one backend since it was created.

    Attributes
    ----------
    requests
        Requests the backend sent, each counted once however often it was retried.
    client_retries
        Retries the ``openai`` client made after a 408, 409, 429 or 5xx status, a
        timeout or a connection error.
    malformed_retries
        Requests sent again because the response lacked logprobs or choices, or
        its logprobs were invalid.
    failures
        Requests that ended in :class:`~dpsynth.models.ModelError`.
    """

    requests: int = 0
    client_retries: int = 0
    malformed_retries: int = 0
    failures: int = 0


@dataclass
class _LoopState:
    client: openai.AsyncOpenAI
    semaphore: asyncio.Semaphore
    closer: asyncio.Task[None] | None = None
    batcher: Any = None


def _check_count(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r} is invalid: give a whole number, {minimum} or more.")


class OpenAIEndpointModel:
    """Base of the backends: one OpenAI-compatible endpoint and one model on it.

    Parameters
    ----------
    model
        The model name the server knows, such as ``"gpt-3.5-turbo-instruct"``.
    client
        An ``openai.AsyncOpenAI`` client to use as it is; its own base URL, key,
        retries and timeout apply. None creates one per event loop from the
        arguments below.
    base_url
        The server's base URL, such as ``"http://127.0.0.1:8000/v1"``. None uses
        ``$OPENAI_BASE_URL``, else OpenAI's API.
    api_key_env
        The name of the environment variable that holds the API key. None or
        ``""`` sends a placeholder key, for servers without authentication; see
        :func:`dpsynth.backends.keys.read_api_key`.
    max_top_k
        The most candidates the endpoint returns per token, or None if unknown.
    concurrency
        The most requests in flight at once, per event loop.
    timeout
        Seconds the ``openai`` client waits for one response before it retries.
    max_retries
        Retries of the ``openai`` client per request; 2 is the client's own
        default. A run that still fails stops with an error and continues from
        its checkpoint with ``--resume``.
    malformed_retries
        Extra attempts for a response that arrives without usable logprobs.
    """

    endpoint_path = ""
    spec_prefix = ""

    def __init__(
        self,
        model: str,
        client: openai.AsyncOpenAI | None = None,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        max_top_k: int | None = None,
        *,
        concurrency: int = 16,
        timeout: float = 60.0,
        max_retries: int = 2,
        malformed_retries: int = 2,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model={model!r} is invalid: give the model name the server knows.")
        if client is not None and not isinstance(client, openai.AsyncOpenAI):
            raise TypeError(
                f"client is {type(client).__name__}: pass an openai.AsyncOpenAI client, or None."
            )
        if max_top_k is not None:
            _check_count("max_top_k", max_top_k, 1)
        _check_count("concurrency", concurrency, 1)
        _check_count("max_retries", max_retries, 0)
        _check_count("malformed_retries", malformed_retries, 0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout={timeout!r} is invalid: give a positive number of seconds.")
        self.model = model
        self.base_url = str(client.base_url).rstrip("/") if client is not None else resolve_base_url(base_url)
        if client is None:
            # Fail now, not at the first request, when the key is missing.
            read_api_key(api_key_env, self.base_url)
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.malformed_retries = malformed_retries
        self._max_top_k = max_top_k
        self._client = client
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._stats = RequestStats()

    @property
    def name(self) -> str:
        """The model's name in reports and checkpoints, such as ``"openai:gpt-3.5-turbo-instruct"``."""
        return f"{self.spec_prefix}:{self.model}"

    @property
    def max_top_k(self) -> int | None:
        """The maximum number of candidates per token the endpoint returns, or None if unknown."""
        return self._max_top_k

    @property
    def endpoint(self) -> str:
        """The URL that receives the requests, without credentials; see :func:`~dpsynth.backends.keys.redact_url`."""
        return f"{redact_url(self.base_url)}/{self.endpoint_path}"

    @property
    def stats(self) -> RequestStats:
        """Traffic counts since the backend was created."""
        return self._stats

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={self.model!r}, base_url={redact_url(self.base_url)!r}, "
            f"api_key_env={self.api_key_env!r})"
        )

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            client = self._client or openai.AsyncOpenAI(
                api_key=read_api_key(self.api_key_env, self.base_url),
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
            state = _LoopState(client, asyncio.Semaphore(self.concurrency))
            if self._client is None:
                state.closer = loop.create_task(self._close_when_cancelled(loop, client))
            self._states[loop] = state
        return state

    async def _close_when_cancelled(self, loop: asyncio.AbstractEventLoop, client: openai.AsyncOpenAI) -> None:
        try:
            await loop.create_future()
        finally:
            self._states.pop(loop, None)
            await client.close()

    async def aclose(self) -> None:
        """Close the client this backend created for the running event loop."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None and state.closer is not None:
            state.closer.cancel()
            await asyncio.gather(state.closer, return_exceptions=True)

    async def __aenter__(self) -> OpenAIEndpointModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _count(self, **increments: int) -> None:
        current = self._stats
        self._stats = replace(current, **{name: getattr(current, name) + step for name, step in increments.items()})

    async def _request(
        self,
        send: Callable[[openai.AsyncOpenAI], Awaitable[Any]],
        parse: Callable[[object], T],
        top_k: int,
        prompts: Sequence[str],
    ) -> T:
        """Send one request through ``send`` and return ``parse`` of its JSON body, with retries.

        ``prompts`` are the request's prompts, kept out of any error message.
        """
        state = self._loop_state()
        attempts = self.malformed_retries + 1
        for attempt in range(1, attempts + 1):
            async with state.semaphore:
                try:
                    raw = await send(state.client)
                except openai.APIError as error:
                    self._count(requests=1, failures=1)
                    # Not chained, because the openai error contains the response, which may quote the prompts.
                    raise self._translate(error, top_k, prompts) from None
            retries = getattr(raw, "retries_taken", 0)
            self._count(requests=1, client_retries=retries)
            if retries:
                logger.info(
                    "%s responded after %d retries of the openai client (%d client retries so far).",
                    self.endpoint, retries, self._stats.client_retries,
                )
            try:
                return parse(_json_body(raw))
            except MalformedResponse as problem:
                if attempt == attempts:
                    self._count(failures=1)
                    raise self._unusable(problem, attempts) from None
                self._count(malformed_retries=1)
                logger.warning(
                    "%s returned an unusable response (%s); sending the request again, attempt "
                    "%d of %d (%d repeated requests so far).",
                    self.endpoint, problem, attempt + 1, attempts, self._stats.malformed_retries,
                )
        raise AssertionError("unreachable: the loop returns or raises")

    def _where(self) -> str:
        return f"{self.endpoint} (model {self.model!r})"

    def _unusable(self, problem: MalformedResponse, attempts: int) -> ModelError:
        if isinstance(problem, MissingLogprobs):
            return ModelError(
                f"{self._where()} returned no top logprobs in {attempts} attempt(s) ({problem}). "
                "The mechanism needs the top-k next-token logprobs, and some OpenAI-compatible "
                "servers drop them without an error: Ollama's and LM Studio's OpenAI-compatible "
                "endpoints and TGI's /v1/completions among them. " + self._no_logprobs_advice()
            )
        if isinstance(problem, InvalidLogprobs):
            return ModelError(
                f"{self._where()} returned invalid logprobs in {attempts} attempt(s) ({problem}). "
                "The mechanism needs natural-log probabilities, each 0 or less: check the "
                "server's logprobs output, or use another server."
            )
        return ModelError(
            f"{self._where()} returned an unusable response in {attempts} attempt(s) ({problem}). "
            "Check that --base-url points at an OpenAI-compatible server's /v1 root."
        )

    def _no_logprobs_advice(self) -> str:
        raise NotImplementedError

    def _cap_message(self, top_k: int, detail: str) -> str:
        raise NotImplementedError

    def _scrub(self, text: str) -> str:
        # Servers may quote the request's key in an error; keep it out of messages.
        key = os.environ.get(self.api_key_env, "").strip() if self.api_key_env else ""
        text = text.replace(key, "***") if len(key) >= 4 else text
        return text if len(text) <= _DETAIL_LIMIT else text[:_DETAIL_LIMIT] + "..."

    def _server_message(self, error: openai.APIStatusError) -> str:
        body = error.body
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return body["message"]
        try:
            return error.response.text
        except Exception:  # noqa: BLE001 - a body that cannot be decoded has no detail to show
            return ""

    def _server_detail(self, error: openai.APIStatusError, message: str, prompts: Sequence[str]) -> str:
        """Return the server's ``message`` for an error message, or its type and code if it quotes a prompt."""
        shown = self._scrub(message)
        if shown and not quotes_prompt(shown, prompts):
            return shown
        body = error.body if isinstance(error.body, dict) else {}
        fields = [
            f"{name} {body[name]!r}" for name in ("type", "code")
            if isinstance(body.get(name), (str, int)) and not isinstance(body.get(name), bool)
            and len(str(body[name])) <= 64 and not quotes_prompt(str(body[name]), prompts)
        ]
        described = ", ".join(fields) if fields else "no error type or code"
        if not shown:
            return described
        return f"{described}; the server's message quoted the prompt, so it is left out"

    def _translate(self, error: openai.APIError, top_k: int, prompts: Sequence[str]) -> ModelError:
        where = self._where()
        if isinstance(error, openai.APITimeoutError):
            return ModelError(
                f"{where} did not respond within {self.timeout:g} s, on the first attempt and "
                f"{self.max_retries} retries. Check that the server is up and not overloaded, "
                "then rerun with --resume."
            )
        if isinstance(error, openai.APIConnectionError):
            return ModelError(
                f"could not connect to {where} after {self.max_retries} retries. Check that the "
                "server is running and that --base-url is right, then rerun with --resume."
            )
        if not isinstance(error, openai.APIStatusError):
            return ModelError(f"{where} failed: {type(error).__name__}.")
        status = error.status_code
        message = self._server_message(error)
        detail = self._server_detail(error, message, prompts)
        if status in (401, 403):
            if not self.api_key_env:
                return ModelError(
                    f"{where} rejected the placeholder API key with HTTP {status}: put the "
                    "server's key in an environment variable and name it with --api-key-env."
                )
            return ModelError(
                f"{where} rejected the API key with HTTP {status}. Put a valid key in the "
                f"{_describe(self.api_key_env)}, or name the variable that holds it with --api-key-env."
            )
        if status == 400 and "logprob" in message.lower():
            return ModelError(self._cap_message(top_k, detail))
        if status == 404:
            return ModelError(
                f"{where} returned HTTP 404 ({detail}). Check the model name in --model and "
                "the --base-url; a chat-only model needs openai-chat:MODEL, a completions "
                "model openai:MODEL."
            )
        if status in (408, 409, 429) or status >= 500:
            return ModelError(
                f"{where} still returned HTTP {status} after {self.max_retries} retries "
                f"({detail}). Wait, lower --concurrency, and rerun with --resume."
            )
        return ModelError(f"{where} rejected the request with HTTP {status} ({detail}).")


_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)")


def _alphanumeric(text: str) -> str:
    return "".join(character for character in _ESCAPE.sub(" ", text).casefold() if character.isalnum())


def quotes_prompt(text: str, prompts: Sequence[str], length: int = PROMPT_QUOTE_LENGTH) -> bool:
    """Return True when ``text`` shares ``length`` letters and digits in a row with any of ``prompts``.

    Both sides are compared case-folded and without spaces, punctuation and
    escapes, so a prompt quoted in JSON, with changed whitespace or cut short
    still counts as quoted.
    """
    folded = _alphanumeric(text)
    if len(folded) < length:
        return False
    windows = {folded[start:start + length] for start in range(len(folded) - length + 1)}
    for prompt in prompts:
        folded_prompt = _alphanumeric(prompt)
        if any(folded_prompt[start:start + length] in windows for start in range(len(folded_prompt) - length + 1)):
            return True
    return False


def _json_body(raw: Any) -> object:
    try:
        return raw.http_response.json()
    except ValueError as error:
        raise MalformedResponse(f"the body is not JSON ({type(error).__name__})") from None
