"""A local OpenAI-compatible server for any next-token model, with injected latency and faults.

``dpsynth serve-mock`` serves the offline :class:`~dpsynth.incontext.InContextModel`
on 127.0.0.1, so that the OpenAI backends, the ``openai`` client and other tools
can be tested and benchmarked over real HTTP without a GPU or an API key.

Endpoints (the subset of OpenAI's API that dpsynth and the LlamaIndex pack use):

- ``GET /v1/models`` lists the model.
- ``GET /dpsynth/stats`` returns the request counters of :class:`ServerStats`
  as JSON, for benchmarks that run the server in another process.
- ``POST /v1/completions`` takes ``prompt`` as a string or a list of strings,
  ``max_tokens``, ``logprobs`` (0 to ``max_logprobs``) and ``stop``, and answers
  with one choice per prompt, each with its ``index``. The text is the greedy
  continuation (the argmax token at each step). Logprobs come in the legacy shape
  (``top_logprobs``: a list of ``token -> logprob`` mappings) or, with
  ``completions_logprobs_shape="content"``, in the chat shape that llama.cpp's
  server returns on this endpoint.
- ``POST /v1/chat/completions`` takes ``messages``, ``logprobs``, ``top_logprobs``
  and ``max_tokens`` or ``max_completion_tokens``. The model continues the text
  of the last user message, which is how :class:`~dpsynth.backends.OpenAIChatModel`
  frames a completion prompt; system messages are ignored.

Any model name is accepted in a request and echoed back. A ``logprobs`` or
``top_logprobs`` above ``max_logprobs`` gets HTTP 400, as vLLM answers. A prompt
the model cannot read (the offline model reads only the layout of
:mod:`dpsynth.prompts`) gets HTTP 400 too, or with
``on_unreadable_prompt="end_of_text"`` the response ``<|endoftext|>`` with
probability 1. The LlamaIndex pack needs the second: it stops only at end-of-text
markers and keeps appending after the newline that ends a text, and a prompt that
continues past that newline no longer has the layout.

Faults. With probability ``fault_rate`` a request to either POST endpoint gets
one fault, drawn uniformly from ``faults``:

- ``"429"``: HTTP 429 with ``Retry-After`` (whole seconds) and ``retry-after-ms``;
- ``"500"``: HTTP 500;
- ``"stall"``: the response is delayed by ``stall_seconds``, so that clients time out;
- ``"no_logprobs"``: a normal response whose choices have ``"logprobs": null``.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import hmac
import itertools
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

from .arguments import HelpFormatter, nonnegative_float, port, positive_int, unit_interval
from .models import NextTokenModel, TopLogprobs

__all__ = [
    "FAULT_KINDS",
    "RunningServer",
    "ServerStats",
    "add_serve_mock_parser",
    "create_app",
    "run_serve_mock",
    "running_server",
    "serve",
]

logger = logging.getLogger("dpsynth.server")

FAULT_KINDS: tuple[str, ...] = ("429", "500", "stall", "no_logprobs")
"""The faults the server can inject."""

LOGPROBS_SHAPES = ("legacy", "content")

UNREADABLE_PROMPT_ACTIONS = ("reject", "end_of_text")

END_OF_TEXT = "<|endoftext|>"
"""The token the server answers for an unreadable prompt with ``on_unreadable_prompt="end_of_text"``."""

_DEFAULT_MAX_TOKENS = 16
_MAX_TOKENS_LIMIT = 256
_REQUEST_SIZE_LIMIT = 64 * 1024 * 1024
_MAX_PORT = 65535


@dataclass
class ServerStats:
    """Counters of the requests a server received, for tests and benchmarks.

    The server's event loop updates them; read them from another thread only
    between runs, or as approximate values while requests are in flight.

    Attributes
    ----------
    requests
        POST requests to either endpoint, faulted ones included.
    completions_requests, chat_requests
        POST requests to ``/v1/completions`` and ``/v1/chat/completions``.
    prompts
        Prompts served (a completions request may carry many).
    unreadable_prompts
        Prompts the model could not read, returned with the end-of-text token.
    faults
        Injected faults by kind.
    """

    requests: int = 0
    completions_requests: int = 0
    chat_requests: int = 0
    prompts: int = 0
    unreadable_prompts: int = 0
    faults: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """Return a copy of the counters as a plain dict."""
        return {
            "requests": self.requests,
            "completions_requests": self.completions_requests,
            "chat_requests": self.chat_requests,
            "prompts": self.prompts,
            "unreadable_prompts": self.unreadable_prompts,
            "faults": dict(self.faults),
        }


STATS_KEY = web.AppKey("dpsynth_stats", ServerStats)


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _error_response(status: int, message: str, kind: str, param: str | None = None,
                    headers: Mapping[str, str] | None = None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return web.json_response(body, status=status, headers=headers)


def _optional_int(body: Mapping[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _BadRequest(f"{name}={value!r} is invalid: give a whole number from {low} to {high}.", name)
    return value


def _stop_strings(body: Mapping[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(item, str) and item for item in stop):
        raise _BadRequest("stop must be a non-empty string or a list of them.", "stop")
    return stop


@dataclass
class _Continuation:
    """The greedy continuation of one prompt, with the candidates of each step."""

    text: str = ""
    tokens: list[str] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    candidates: list[dict[str, float]] = field(default_factory=list)
    finish_reason: str = "length"


class _Handlers:
    def __init__(
        self,
        model: NextTokenModel,
        *,
        latency: float,
        fault_rate: float,
        faults: tuple[str, ...],
        rng: np.random.Generator,
        stall_seconds: float,
        retry_after: float,
        max_logprobs: int,
        completions_logprobs_shape: str,
        reverse_choices: bool,
        require_api_key: str | None,
        on_unreadable_prompt: str,
        stats: ServerStats,
    ) -> None:
        self.model = model
        self.latency = latency
        self.fault_rate = fault_rate
        self.faults = faults
        self.rng = rng
        self.stall_seconds = stall_seconds
        self.retry_after = retry_after
        self.max_logprobs = max_logprobs
        self.completions_logprobs_shape = completions_logprobs_shape
        self.reverse_choices = reverse_choices
        self.require_api_key = require_api_key
        self.on_unreadable_prompt = on_unreadable_prompt
        self.stats = stats
        self._ids = itertools.count(1)

    def _draw_fault(self) -> str | None:
        if self.fault_rate <= 0 or self.rng.random() >= self.fault_rate:
            return None
        kind = self.faults[int(self.rng.integers(len(self.faults)))]
        self.stats.faults[kind] = self.stats.faults.get(kind, 0) + 1
        logger.debug("Injecting fault %s (%d so far).", kind, self.stats.faults[kind])
        return kind

    def _fault_response(self, kind: str) -> web.Response | None:
        if kind == "429":
            headers = {
                "Retry-After": str(max(1, math.ceil(self.retry_after))),
                "retry-after-ms": str(max(1, round(self.retry_after * 1000))),
            }
            return _error_response(
                429, "Rate limit reached (injected fault); retry later.", "rate_limit_error", headers=headers
            )
        if kind == "500":
            return _error_response(500, "Internal server error (injected fault).", "server_error")
        return None

    async def _handle(self, request: web.Request, answer: Callable[[dict[str, Any], bool], Any]) -> web.Response:
        self.stats.requests += 1
        if self.require_api_key is not None and not _authorized(request, self.require_api_key):
            logger.info("Rejected a request to %s: the API key is missing or wrong.", request.path)
            return _error_response(401, "The API key is missing or wrong.", "invalid_request_error")
        fault = self._draw_fault()
        # Read the body first: a client that times out during a stall closes the connection.
        try:
            body = await request.json()
        except ValueError:
            body = None
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if fault == "stall":
            await asyncio.sleep(self.stall_seconds)
        fault_response = self._fault_response(fault) if fault else None
        if fault_response is not None:
            return fault_response
        if not isinstance(body, dict):
            logger.info("Rejected a request to %s: the body is not a JSON object.", request.path)
            return _error_response(400, "The request body must be a JSON object.", "invalid_request_error")
        try:
            return web.json_response(await answer(body, fault == "no_logprobs"))
        except _BadRequest as error:
            logger.info("Rejected a request to %s: %s", request.path, error)
            return _error_response(400, str(error), "invalid_request_error", error.param)
        except ValueError as error:
            # The model rejects a prompt it cannot read, such as one in another layout.
            logger.info("The model rejected a prompt sent to %s: %s", request.path, error)
            return _error_response(400, f"The model rejected a prompt: {error}", "invalid_request_error", "prompt")

    def _check_logprobs(self, name: str, value: int | None) -> None:
        if value is not None and value > self.max_logprobs:
            raise _BadRequest(
                f"{name}={value} is more than this server returns per token "
                f"(max_logprobs={self.max_logprobs}): request {self.max_logprobs} or fewer.",
                name,
            )

    async def _continue(self, prompts: Sequence[str], max_tokens: int, top_k: int,
                        stop: Sequence[str]) -> list[_Continuation]:
        # Greedy decoding, one batched model call per step for the prompts still running.
        results = [_Continuation() for _ in prompts]
        active = list(range(len(prompts)))
        for _ in range(max_tokens):
            if not active:
                break
            batch = await self._candidates([prompts[i] + results[i].text for i in active], top_k)
            still_active = []
            for i, candidates in zip(active, batch):
                result = results[i]
                token = max(candidates, key=candidates.__getitem__)
                result.tokens.append(token)
                result.logprobs.append(candidates[token])
                result.candidates.append(dict(candidates))
                if token == END_OF_TEXT:
                    result.finish_reason = "stop"
                    continue
                result.text += token
                cut = min((result.text.find(s) for s in stop if s in result.text), default=-1)
                if cut >= 0:
                    result.text = result.text[:cut]
                    result.finish_reason = "stop"
                else:
                    still_active.append(i)
            active = still_active
        self.stats.prompts += len(prompts)
        return results

    async def _candidates(self, prompts: list[str], top_k: int) -> list[TopLogprobs]:
        try:
            return await self.model.top_logprobs(prompts, top_k)
        except ValueError:
            if self.on_unreadable_prompt == "reject":
                raise
        # Ask again prompt by prompt to find the unreadable ones.
        answers: list[TopLogprobs] = []
        for prompt in prompts:
            try:
                answers.extend(await self.model.top_logprobs([prompt], top_k))
            except ValueError:
                self.stats.unreadable_prompts += 1
                answers.append({END_OF_TEXT: 0.0})
        return answers

    def _model_top_k(self, requested: int | None) -> int:
        limit = self.model.max_top_k or self.max_logprobs
        return max(1, min(requested or 1, limit))

    def _envelope(self, kind: str, model: str, choices: list[dict[str, Any]], prompt_chars: int,
                  completion_tokens: int) -> dict[str, Any]:
        prefix = "cmpl" if kind == "text_completion" else "chatcmpl"
        prompt_tokens = max(1, prompt_chars // 4)
        return {
            "id": f"{prefix}-{next(self._ids)}",
            "object": kind,
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    async def models(self, request: web.Request) -> web.Response:
        entry = {"id": self.model.name, "object": "model", "created": 0, "owned_by": "dpsynth"}
        return web.json_response({"object": "list", "data": [entry]})

    async def stats_report(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.snapshot())

    async def completions(self, request: web.Request) -> web.Response:
        self.stats.completions_requests += 1
        return await self._handle(request, self._answer_completions)

    async def chat_completions(self, request: web.Request) -> web.Response:
        self.stats.chat_requests += 1
        return await self._handle(request, self._answer_chat)

    async def _answer_completions(self, body: dict[str, Any], drop_logprobs: bool) -> dict[str, Any]:
        model = _model_name(body)
        prompts = _prompt_list(body.get("prompt"))
        max_tokens = _optional_int(body, "max_tokens", _DEFAULT_MAX_TOKENS, 1, _MAX_TOKENS_LIMIT)
        top_k = _optional_int(body, "logprobs", None, 0, 10**6)
        self._check_logprobs("logprobs", top_k)
        _require_single_choice(body)
        if body.get("echo"):
            raise _BadRequest("echo=true is not supported by this server.", "echo")
        stop = _stop_strings(body)
        results = await self._continue(prompts, max_tokens, self._model_top_k(top_k), stop)
        choices = []
        for index, (prompt, result) in enumerate(zip(prompts, results)):
            if top_k is None or drop_logprobs:
                logprobs = None
            elif self.completions_logprobs_shape == "content":
                logprobs = {"content": _content_entries(result, top_k)}
            else:
                logprobs = _legacy_logprobs(prompt, result, top_k)
            choices.append(
                {"index": index, "text": result.text, "logprobs": logprobs, "finish_reason": result.finish_reason}
            )
        if self.reverse_choices:
            choices.reverse()
        completion_tokens = sum(len(result.tokens) for result in results)
        return self._envelope("text_completion", model, choices, sum(map(len, prompts)), completion_tokens)

    async def _answer_chat(self, body: dict[str, Any], drop_logprobs: bool) -> dict[str, Any]:
        model = _model_name(body)
        prompt = _last_user_message(body.get("messages"))
        if "max_completion_tokens" in body:
            max_tokens = _optional_int(body, "max_completion_tokens", _DEFAULT_MAX_TOKENS, 1, _MAX_TOKENS_LIMIT)
        else:
            max_tokens = _optional_int(body, "max_tokens", _DEFAULT_MAX_TOKENS, 1, _MAX_TOKENS_LIMIT)
        wants_logprobs = body.get("logprobs") or False
        if not isinstance(wants_logprobs, bool):
            raise _BadRequest(f"logprobs={wants_logprobs!r} is invalid: give true or false.", "logprobs")
        top_k = _optional_int(body, "top_logprobs", None, 0, 10**6)
        if top_k is not None and not wants_logprobs:
            raise _BadRequest("top_logprobs needs logprobs=true.", "top_logprobs")
        self._check_logprobs("top_logprobs", top_k)
        _require_single_choice(body)
        [result] = await self._continue([prompt], max_tokens, self._model_top_k(top_k), _stop_strings(body))
        logprobs = None
        if wants_logprobs and not drop_logprobs:
            logprobs = {"content": _content_entries(result, top_k or 0)}
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": result.text},
            "logprobs": logprobs,
            "finish_reason": result.finish_reason,
        }
        return self._envelope("chat.completion", model, [choice], len(prompt), len(result.tokens))


def _authorized(request: web.Request, key: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), key.encode())


def _model_name(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _BadRequest("model is missing: give the model name as a string.", "model")
    return model


def _prompt_list(prompt: object) -> list[str]:
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(item, str) for item in prompt):
        return list(prompt)
    raise _BadRequest(
        "prompt must be a string or a non-empty list of strings; token id prompts are not supported.",
        "prompt",
    )


def _last_user_message(messages: object) -> str:
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("messages must be a non-empty list.", "messages")
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                parts = [part.get("text") for part in content if isinstance(part, dict) and part.get("type") == "text"]
                if all(isinstance(part, str) for part in parts):
                    return "".join(parts)
            raise _BadRequest("the last user message has no text content.", "messages")
    raise _BadRequest("messages has no user message to continue.", "messages")


def _require_single_choice(body: Mapping[str, Any]) -> None:
    if body.get("n", 1) != 1:
        raise _BadRequest(f"n={body.get('n')!r} is not supported: this server returns one choice per prompt.", "n")


def _top(candidates: Mapping[str, float], count: int) -> list[tuple[str, float]]:
    return sorted(candidates.items(), key=lambda item: (-item[1], item[0]))[:count]


def _legacy_logprobs(prompt: str, result: _Continuation, top_k: int) -> dict[str, Any]:
    offsets = list(itertools.accumulate((len(token) for token in result.tokens[:-1]), initial=len(prompt)))
    return {
        "tokens": list(result.tokens),
        "token_logprobs": list(result.logprobs),
        "top_logprobs": [dict(_top(candidates, top_k)) for candidates in result.candidates],
        "text_offset": offsets,
    }


def _content_entries(result: _Continuation, top_k: int) -> list[dict[str, Any]]:
    entries = []
    for token, logprob, candidates in zip(result.tokens, result.logprobs, result.candidates):
        top = [
            {"token": candidate, "logprob": value, "bytes": list(candidate.encode("utf-8"))}
            for candidate, value in _top(candidates, top_k)
        ]
        entries.append({"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8")), "top_logprobs": top})
    return entries


def _check_options(latency: float, fault_rate: float, faults: Sequence[str], stall_seconds: float,
                   retry_after: float, completions_logprobs_shape: str, on_unreadable_prompt: str) -> tuple[str, ...]:
    for name, value in (("latency", latency), ("stall_seconds", stall_seconds), ("retry_after", retry_after)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name}={value!r} is invalid: give a finite number of seconds, 0 or more.")
    if isinstance(fault_rate, bool) or not isinstance(fault_rate, (int, float)) or not 0 <= fault_rate <= 1:
        raise ValueError(f"fault_rate={fault_rate!r} is invalid: give a probability from 0 to 1.")
    kinds = tuple(faults)
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if unknown or (fault_rate > 0 and not kinds):
        raise ValueError(f"faults={list(kinds)!r} is invalid: choose one or more of {', '.join(FAULT_KINDS)}.")
    if completions_logprobs_shape not in LOGPROBS_SHAPES:
        raise ValueError(
            f"completions_logprobs_shape={completions_logprobs_shape!r} is invalid: use 'legacy' or 'content'."
        )
    if on_unreadable_prompt not in UNREADABLE_PROMPT_ACTIONS:
        raise ValueError(
            f"on_unreadable_prompt={on_unreadable_prompt!r} is invalid: use 'reject' or 'end_of_text'."
        )
    return kinds


def create_app(
    model: NextTokenModel,
    *,
    latency: float = 0.0,
    fault_rate: float = 0.0,
    faults: Sequence[str] = FAULT_KINDS,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    stall_seconds: float = 30.0,
    retry_after: float = 1.0,
    max_logprobs: int | None = None,
    completions_logprobs_shape: str = "legacy",
    reverse_choices: bool = False,
    require_api_key: str | None = None,
    on_unreadable_prompt: str = "reject",
) -> web.Application:
    """Build the aiohttp application that serves ``model``.

    Parameters
    ----------
    model
        The next-token model to serve, such as ``InContextModel()``.
    latency
        Seconds each POST request waits before the server responds.
    fault_rate
        Probability in [0, 1] that a POST request gets a fault.
    faults
        The fault kinds to draw from, uniformly; see the module notes.
    rng, seed
        The generator of the fault draws, or a seed for a new one. Draws happen
        in request arrival order.
    stall_seconds
        How long a ``"stall"`` fault delays the response, in seconds.
    retry_after
        Seconds a ``"429"`` fault tells the client to wait, in its ``Retry-After`` header.
    max_logprobs
        The most candidates per token a request may ask for; the model's
        ``max_top_k`` (else 20, vLLM's default) when None.
    completions_logprobs_shape
        ``"legacy"`` (OpenAI, vLLM) or ``"content"`` (llama.cpp) on ``/v1/completions``.
    reverse_choices
        List completion choices in reverse order, to test matching by ``index``.
    require_api_key
        Answer HTTP 401 to POST requests whose bearer token is not this key; None
        accepts any request.
    on_unreadable_prompt
        ``"reject"`` answers a prompt the model cannot read with HTTP 400;
        ``"end_of_text"`` answers it with ``<|endoftext|>`` at probability 1.
    """
    kinds = _check_options(
        latency, fault_rate, faults, stall_seconds, retry_after, completions_logprobs_shape, on_unreadable_prompt
    )
    if max_logprobs is None:
        max_logprobs = model.max_top_k or 20
    if isinstance(max_logprobs, bool) or not isinstance(max_logprobs, int) or max_logprobs < 1:
        raise ValueError(f"max_logprobs={max_logprobs!r} is invalid: give a whole number, 1 or more.")
    stats = ServerStats()
    handlers = _Handlers(
        model,
        latency=float(latency),
        fault_rate=float(fault_rate),
        faults=kinds,
        rng=rng if rng is not None else np.random.default_rng(seed),
        stall_seconds=float(stall_seconds),
        retry_after=float(retry_after),
        max_logprobs=max_logprobs,
        completions_logprobs_shape=completions_logprobs_shape,
        reverse_choices=reverse_choices,
        require_api_key=require_api_key,
        on_unreadable_prompt=on_unreadable_prompt,
        stats=stats,
    )
    app = web.Application(client_max_size=_REQUEST_SIZE_LIMIT)
    app[STATS_KEY] = stats
    app.router.add_get("/v1/models", handlers.models)
    app.router.add_get("/dpsynth/stats", handlers.stats_report)
    app.router.add_post("/v1/completions", handlers.completions)
    app.router.add_post("/v1/chat/completions", handlers.chat_completions)
    return app


async def _start_site(app: web.Application, host: str, port: int,
                      shutdown_timeout: float) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]


class RunningServer:
    """A server running in a background thread with its own event loop.

    Attributes
    ----------
    host, port
        The bound address; ``port`` is the real port when 0 was requested.
    base_url
        The OpenAI base URL, such as ``"http://127.0.0.1:8000/v1"``.
    stats
        The server's :class:`ServerStats`.
    """

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0,
                 shutdown_timeout: float = 1.0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.stats = app[STATS_KEY]
        self._shutdown_timeout = shutdown_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of the server."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> RunningServer:
        """Start the server and wait until it accepts connections."""
        self._thread = threading.Thread(target=self._run, name="dpsynth-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        logger.info("Serving at %s.", self.base_url)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            runner, self.port = loop.run_until_complete(
                _start_site(self.app, self.host, self.port, self._shutdown_timeout)
            )
        except BaseException as error:  # noqa: BLE001 - handed to the starting thread
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        """Stop the server, close its connections and wait for its thread; safe to call twice."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        logger.info("Stopped the server at %s.", self.base_url)


@contextmanager
def running_server(model: NextTokenModel, *, host: str = "127.0.0.1", port: int = 0,
                   **options: Any) -> Iterator[RunningServer]:
    """Serve ``model`` in a background thread for the duration of a ``with`` block.

    ``port=0`` binds a free port; read it from the yielded :class:`RunningServer`.
    ``options`` go to :func:`create_app`.
    """
    _check_port(port)
    server = RunningServer(create_app(model, **options), host, port).start()
    try:
        yield server
    finally:
        server.stop()


async def _serve_forever(app: web.Application, host: str, port: int,
                         on_ready: Callable[[str], None] | None) -> None:
    runner, bound_port = await _start_site(app, host, port, shutdown_timeout=1.0)
    url = f"http://{host}:{bound_port}/v1"
    logger.info("Serving at %s.", url)
    if on_ready is not None:
        on_ready(url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        logger.info("Stopped the server at %s.", url)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    model: NextTokenModel | None = None,
    *,
    on_ready: Callable[[str], None] | None = None,
    **options: Any,
) -> None:
    """Serve ``model`` (the offline in-context model by default) until interrupted.

    ``on_ready`` receives the base URL once the server accepts connections;
    ``options`` go to :func:`create_app`.

    Raises
    ------
    ValueError
        ``port`` is not a whole number from 0 to 65535, or an option is invalid.
    OSError
        The address cannot be bound: the port is in use (``errno.EADDRINUSE``),
        or ``host`` does not resolve (:class:`socket.gaierror`).
    """
    _check_port(port)
    if model is None:
        from .incontext import InContextModel

        model = InContextModel()
    app = create_app(model, **options)
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("Serving on %s makes the server reachable from other machines.", host)
    try:
        asyncio.run(_serve_forever(app, host, port, on_ready))
    except KeyboardInterrupt:
        pass


def _check_port(port: object) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= _MAX_PORT:
        raise ValueError(f"port={port!r} is invalid: give a TCP port from 0 to {_MAX_PORT}; 0 picks a free one.")


def _fault_list(text: str) -> list[str]:
    kinds = [kind.strip() for kind in text.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid: give a comma-separated list of {', '.join(FAULT_KINDS)}"
        )
    return kinds










def add_serve_mock_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve-mock`` subcommand to ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "serve-mock",
        help="serve the offline model over an OpenAI-compatible HTTP API",
        description=(
            "Serve the offline in-context model at /v1/models, /v1/completions and "
            "/v1/chat/completions, with optional latency and injected faults."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind; keep 127.0.0.1 unless others must reach it")
    parser.add_argument("--port", type=port, default=8000, help="TCP port, 0 to 65535; 0 picks a free one")
    parser.add_argument("--latency-ms", type=nonnegative_float, default=0.0, help="delay before each response, in milliseconds")
    parser.add_argument("--fault-rate", type=unit_interval, default=0.0, help="probability that a request gets a fault")
    parser.add_argument(
        "--faults", type=_fault_list, default=",".join(FAULT_KINDS),
        help="comma-separated fault kinds to draw from: " + ", ".join(FAULT_KINDS),
    )
    parser.add_argument("--stall-seconds", type=nonnegative_float, default=30.0, help="how long a stall fault delays a response, in seconds")
    parser.add_argument("--retry-after-ms", type=nonnegative_float, default=1000.0, help="wait that a 429 fault asks for, in milliseconds")
    parser.add_argument("--max-logprobs", type=positive_int, default=20, help="maximum number of candidates per token that a request may ask for")
    parser.add_argument(
        "--logprobs-shape", choices=LOGPROBS_SHAPES, default="legacy",
        help="logprobs shape on /v1/completions: legacy (OpenAI, vLLM) or content (llama.cpp)",
    )
    parser.add_argument(
        "--unreadable-prompts", choices=UNREADABLE_PROMPT_ACTIONS, default="reject",
        help="answer a prompt the model cannot read with HTTP 400 (reject) or with <|endoftext|> (end_of_text)",
    )
    parser.add_argument("--seed", type=int, help="seed of the fault draws; a random seed when not given")
    parser.set_defaults(handler=run_serve_mock)
    return parser


def run_serve_mock(args: argparse.Namespace) -> int:
    """Run ``dpsynth serve-mock`` with parsed ``args`` until interrupted; return the exit status."""

    def announce(url: str) -> None:
        print(f"Serving the offline model at {url}; press Ctrl+C to stop.", flush=True)

    try:
        serve(
            args.host,
            args.port,
            on_ready=announce,
            latency=args.latency_ms / 1000,
            fault_rate=args.fault_rate,
            faults=args.faults,
            seed=args.seed,
            stall_seconds=args.stall_seconds,
            retry_after=args.retry_after_ms / 1000,
            max_logprobs=args.max_logprobs,
            completions_logprobs_shape=args.logprobs_shape,
            on_unreadable_prompt=args.unreadable_prompts,
        )
    except OSError as error:
        # The dpsynth command reports a ValueError on stderr with exit status 2.
        raise ValueError(_bind_failure(args.host, args.port, error)) from None
    return 0


def _bind_failure(host: str, port: int, error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return (
            f"could not resolve --host {host!r} ({error.strerror or error}): give an IP address "
            "such as 127.0.0.1, or a host name this machine resolves."
        )
    if error.errno == errno.EADDRINUSE:
        return (
            f"could not serve on {host}:{port}: the port is already in use. Stop the other "
            "server, or choose another --port (0 picks a free one)."
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            f"could not serve on {host}:{port}: {host!r} is not an address of this machine. "
            "Give one of its addresses, such as 127.0.0.1."
        )
    return f"could not serve on {host}:{port} ({error.strerror or error}): check --host and --port."
