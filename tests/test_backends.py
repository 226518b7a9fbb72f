"""The OpenAI-compatible backends against the local server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import traceback
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import openai
import pytest
from aiohttp import web

from dpsynth.backends import OpenAIChatModel, OpenAICompletionsModel, model_from_spec, redact_url
from dpsynth.backends.base import quotes_prompt
from dpsynth.backends.chat import restore_word_space
from dpsynth.backends.keys import PLACEHOLDER_API_KEY, read_api_key
from dpsynth.backends.responses import (
    InvalidLogprobs,
    MalformedResponse,
    MissingLogprobs,
    chat_candidates,
    completions_candidates,
)
from dpsynth.generation import step_prompts
from dpsynth.incontext import InContextModel
from dpsynth.models import ModelError, NextTokenModel
from dpsynth.prompts import PromptBundle
from dpsynth.server import STATS_KEY, RunningServer, ServerStats, running_server

FAKE_KEY = "sk-dpsynth-FAKE-1f2e3d4c5b6a7988"
BUNDLE = PromptBundle()
POOL = [
    "I have had a fever and chills since Monday.",
    "My throat is sore and I ache all over.",
    "I cough at night and feel very tired.",
    "The fever came back this morning with a headache.",
]


def step_batch(prefix: str = "") -> list[str]:
    splits = [np.array([0]), np.array([1, 2]), np.array([3])]
    return step_prompts(BUNDLE, POOL, "influenza", prefix, splits)


@pytest.fixture(scope="module")
def model() -> InContextModel:
    return InContextModel()


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    # Each test sets the key it needs; none inherits one from the environment.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def ask(backend: NextTokenModel, prompts: list[str], top_k: int) -> list[dict[str, float]]:
    return asyncio.run(backend.top_logprobs(prompts, top_k))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextmanager
def custom_server(handler: Handler) -> Iterator[RunningServer]:
    """Serve ``handler`` on both POST endpoints on 127.0.0.1, for server behaviour the mock lacks."""
    app = web.Application()
    app[STATS_KEY] = ServerStats()
    app.router.add_post("/v1/completions", handler)
    app.router.add_post("/v1/chat/completions", handler)
    server = RunningServer(app).start()
    try:
        yield server
    finally:
        server.stop()


async def request_prompts(request: web.Request) -> list[str]:
    body = await request.json()
    if "messages" in body:
        return [body["messages"][-1]["content"]]
    return list(body["prompt"])


def assert_no_prompt_text(text: str, prompts: list[str]) -> None:
    for record in POOL:
        assert record[:20] not in text
    for prompt in prompts:
        for start in range(0, len(prompt) - 20):
            assert prompt[start:start + 20] not in text


# Response parsing -----------------------------------------------------------


def test_legacy_shape_parsed():
    body = {"choices": [{"index": 0, "logprobs": {"top_logprobs": [{" a": -0.5, " b": -1.0}]}}]}
    assert completions_candidates(body, 1) == [{" a": -0.5, " b": -1.0}]


def test_content_shape_parsed():
    entries = [{"token": " a", "logprob": -0.5, "bytes": [32, 97]}, {"token": " b", "logprob": -1.0}]
    body = {"choices": [{"index": 0, "logprobs": {"content": [{"token": " a", "top_logprobs": entries}]}}]}
    assert completions_candidates(body, 1) == [{" a": -0.5, " b": -1.0}]
    assert chat_candidates(body) == {" a": -0.5, " b": -1.0}


def test_sentinel_dropped():
    # OpenAI sends -9999 for a probability that underflows: it means zero.
    body = {"choices": [{"index": 0, "logprobs": {"top_logprobs": [{" a": -0.1, " b": -9999.0, " c": float("-inf")}]}}]}
    assert completions_candidates(body, 1) == [{" a": -0.1}]


def test_duplicate_tokens_merged():
    entries = [{"token": "x", "logprob": math.log(0.2)}, {"token": "x", "logprob": math.log(0.3)}]
    merged = chat_candidates({"choices": [{"index": 0, "logprobs": {"content": [{"top_logprobs": entries}]}}]})
    assert merged["x"] == pytest.approx(math.log(0.5), abs=1e-12)


def test_choices_matched_by_index():
    choices = [
        {"index": 1, "logprobs": {"top_logprobs": [{" b": -0.2}]}},
        {"index": 0, "logprobs": {"top_logprobs": [{" a": -0.1}]}},
    ]
    assert completions_candidates({"choices": choices}, 2) == [{" a": -0.1}, {" b": -0.2}]


@pytest.mark.parametrize(
    "choices",
    [
        [{"index": 0, "logprobs": {"top_logprobs": [{" a": -0.1}]}}],
        [{"index": 0, "logprobs": {"top_logprobs": [{" a": -0.1}]}}] * 2,
        [{"index": 0, "logprobs": {"top_logprobs": [{" a": -0.1}]}}, {"index": 5, "logprobs": None}],
        [{"logprobs": {"top_logprobs": [{" a": -0.1}]}}, {"index": 1, "logprobs": None}],
    ],
)
def test_mismatched_choices_rejected(choices):
    with pytest.raises(MalformedResponse) as error:
        completions_candidates({"choices": choices}, 2)
    assert not isinstance(error.value, MissingLogprobs)


def test_missing_logprobs_counted():
    choices = [{"index": 0, "logprobs": None}, {"index": 1, "logprobs": {"top_logprobs": [{" a": -0.1}]}}]
    with pytest.raises(MissingLogprobs) as error:
        completions_candidates({"choices": choices}, 2)
    assert (error.value.missing, error.value.total) == (1, 2)


@pytest.mark.parametrize("body", [None, [], {}, {"choices": []}, {"choices": ["x"]}])
def test_bodies_without_choices(body):
    with pytest.raises(MalformedResponse):
        completions_candidates(body, 1)


def test_word_space_restored():
    restored = restore_word_space({"fever": math.log(0.5), " fever": math.log(0.25), ",": -2.0}, "Message:")
    assert set(restored) == {" fever", ","}
    assert restored[" fever"] == pytest.approx(math.log(0.75), abs=1e-12)
    assert restore_word_space({"fever": -1.0}, "Message: ") == {"fever": -1.0}


# Completions backend --------------------------------------------------------


def test_completions_match_model(model):
    prompts = step_batch() + step_batch(" I have")
    with running_server(model, reverse_choices=True) as server:
        backend = OpenAICompletionsModel("mock", base_url=server.base_url)
        result = ask(backend, prompts, 5)
        stats = server.stats.snapshot()
    assert result == [model.next_token_logprobs(prompt, 5) for prompt in prompts]
    assert stats["completions_requests"] == 1
    assert stats["prompts"] == len(prompts)
    assert backend.stats.requests == 1


def test_completions_content_shape(model):
    prompts = step_batch(" My")
    with running_server(model, completions_logprobs_shape="content") as server:
        result = ask(OpenAICompletionsModel("mock", base_url=server.base_url), prompts, 7)
    assert result == [model.next_token_logprobs(prompt, 7) for prompt in prompts]


def test_completions_max_batch(model):
    prompts = step_batch()
    with running_server(model) as server:
        backend = OpenAICompletionsModel("mock", base_url=server.base_url, max_batch=3)
        result = ask(backend, prompts, 3)
        requests = server.stats.requests
    assert result == [model.next_token_logprobs(prompt, 3) for prompt in prompts]
    assert requests == math.ceil(len(prompts) / 3)


def gather_calls(backend: NextTokenModel, batches: list[list[str]], top_ks: list[int]) -> list[list[dict[str, float]]]:
    async def run() -> list[list[dict[str, float]]]:
        return list(await asyncio.gather(*(backend.top_logprobs(b, k) for b, k in zip(batches, top_ks))))

    return asyncio.run(run())


@pytest.mark.parametrize(("coalesce", "max_batch", "expected_requests"), [(True, 128, 2), (True, 5, 4), (False, 128, 4)])
def test_completions_coalescing(model, coalesce, max_batch, expected_requests):
    # Four concurrent calls, two with top_k 3 and two with top_k 4: coalescing
    # sends one request per top_k (8 prompts each, split at max_batch), or one per call.
    batches = [step_batch(prefix) for prefix in ("", " I", " My", " The")]
    top_ks = [3, 4, 3, 4]
    with running_server(model) as server:
        backend = OpenAICompletionsModel("mock", base_url=server.base_url, coalesce=coalesce, max_batch=max_batch)
        result = gather_calls(backend, batches, top_ks)
        requests = server.stats.requests
    expected = [[model.next_token_logprobs(prompt, k) for prompt in batch] for batch, k in zip(batches, top_ks)]
    assert result == expected
    assert requests == expected_requests


def test_coalesced_failure_reaches_every_call(model):
    with running_server(model, fault_rate=1.0, faults=["no_logprobs"]) as server:
        backend = OpenAICompletionsModel("mock", base_url=server.base_url, malformed_retries=0)

        async def run() -> list[object]:
            calls = [backend.top_logprobs(step_batch(prefix), 2) for prefix in ("", " I", " My")]
            return list(await asyncio.gather(*calls, return_exceptions=True))

        outcomes = asyncio.run(run())
        requests = server.stats.requests
    assert requests == 1
    assert all(isinstance(outcome, ModelError) for outcome in outcomes)


def test_backend_reused_across_loops(model):
    # generate() runs a new event loop per call; the backend makes a client per loop.
    prompts = step_batch()
    with running_server(model) as server:
        backend = OpenAICompletionsModel("mock", base_url=server.base_url)
        first = ask(backend, prompts, 2)
        second = ask(backend, prompts, 2)
    assert first == second


def test_caller_client_used(model):
    async def run(base_url: str) -> list[dict[str, float]]:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="unused") as client:
            backend = OpenAICompletionsModel("mock", client=client)
            assert backend.base_url == base_url
            return await backend.top_logprobs(step_batch(), 2)

    with running_server(model) as server:
        result = asyncio.run(run(server.base_url))
    assert result == [model.next_token_logprobs(prompt, 2) for prompt in step_batch()]


def test_completions_no_logprobs_error(model):
    with running_server(model, fault_rate=1.0, faults=["no_logprobs"]) as server:
        backend = OpenAICompletionsModel("served-model", base_url=server.base_url, malformed_retries=2)
        with pytest.raises(ModelError) as error:
            ask(backend, step_batch(), 5)
        requests = server.stats.requests
    message = str(error.value)
    assert f"{server.base_url}/completions" in message
    assert "'served-model'" in message
    assert "no top logprobs in 3 attempt(s)" in message
    assert "--model openai-chat:served-model" in message
    assert requests == 3
    assert backend.stats.malformed_retries == 2
    assert backend.stats.failures == 1


def test_chat_no_logprobs_error(model):
    with running_server(model, fault_rate=1.0, faults=["no_logprobs"]) as server:
        backend = OpenAIChatModel("served-model", base_url=server.base_url, malformed_retries=0)
        with pytest.raises(ModelError) as error:
            ask(backend, step_batch()[:1], 5)
    message = str(error.value)
    assert f"{server.base_url}/chat/completions" in message
    assert "--model openai:served-model" in message


def test_completions_cap_vllm(model):
    # vLLM's default cap is 20 and it answers more with HTTP 400.
    with running_server(model, max_logprobs=20) as server:
        backend = OpenAICompletionsModel("served-model", base_url=server.base_url, max_top_k=None)
        with pytest.raises(ModelError) as error:
            ask(backend, step_batch(), 21)
    message = str(error.value)
    assert f"{server.base_url}/completions" in message
    assert "'served-model'" in message
    assert "logprobs=21" in message
    assert "--top-k 20" in message


def test_completions_cap_openai(model):
    # OpenAI's completions endpoint returns at most 5 candidates.
    with running_server(model, max_logprobs=5) as server:
        backend = OpenAICompletionsModel("gpt-3.5-turbo-instruct", base_url=server.base_url)
        with pytest.raises(ModelError) as error:
            ask(backend, step_batch(), 6)
    assert "logprobs=6" in str(error.value)
    assert "--top-k 5" in str(error.value)


def test_openai_cap_checked_before_sending(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    backend = OpenAICompletionsModel("gpt-3.5-turbo-instruct")
    assert backend.max_top_k == 5
    with pytest.raises(ValueError, match="--top-k 5"):
        ask(backend, ["x"], 6)


def test_chat_cap(model):
    with running_server(model, max_logprobs=10) as server:
        backend = OpenAIChatModel("served-model", base_url=server.base_url)
        with pytest.raises(ModelError) as error:
            ask(backend, step_batch()[:2], 11)
    assert "top_logprobs=11" in str(error.value)
    assert "--top-k" in str(error.value)


# Chat backend -----------------------------------------------------------------


def test_chat_match_model(model):
    prompts = step_batch(" I have")
    with running_server(model) as server:
        backend = OpenAIChatModel("mock", base_url=server.base_url, concurrency=3)
        result = ask(backend, prompts, 5)
        stats = server.stats.snapshot()
    assert result == [model.next_token_logprobs(prompt, 5) for prompt in prompts]
    assert stats["chat_requests"] == len(prompts)
    assert backend.stats.requests == len(prompts)


def test_chat_framing():
    backend = OpenAIChatModel("m", base_url="http://127.0.0.1:1/v1")
    assert [message["role"] for message in backend.messages("P")] == ["system", "user"]
    assert backend.messages("P")[1]["content"] == "P"
    bare = OpenAIChatModel("m", base_url="http://127.0.0.1:1/v1", system_prompt=None)
    assert bare.messages("P") == [{"role": "user", "content": "P"}]


def test_chat_max_completion_tokens(model):
    with running_server(model) as server:
        backend = OpenAIChatModel("mock", base_url=server.base_url, token_limit_field="max_completion_tokens")
        result = ask(backend, step_batch()[:2], 3)
    assert result == [model.next_token_logprobs(prompt, 3) for prompt in step_batch()[:2]]


# Retries ----------------------------------------------------------------------


PREFIXES = ("", " I", " I have", " My", " The fever", " My throat", " I cough", " It", " The", " I had")


@pytest.mark.parametrize("backend_class", [OpenAICompletionsModel, OpenAIChatModel])
def test_retries_under_faults(model, backend_class, caplog):
    # A 20% fault rate over every fault kind: the answers are exactly the model's.
    # Seed 16 draws all four kinds within the first 20 requests, and both
    # backends send at least 20 (completions in batches of 2 prompts).
    batches = [step_batch(prefix) for prefix in PREFIXES]
    expected = [[model.next_token_logprobs(prompt, 5) for prompt in batch] for batch in batches]
    options = dict(fault_rate=0.2, seed=16, retry_after=0.01, stall_seconds=1.0)
    caplog.set_level(logging.INFO, logger="dpsynth")
    extra = {"max_batch": 2} if backend_class is OpenAICompletionsModel else {}
    with running_server(model, **options) as server:
        backend = backend_class("mock", base_url=server.base_url, timeout=0.3, max_retries=6, malformed_retries=4, **extra)

        async def run() -> list[list[dict[str, float]]]:
            return list(await asyncio.gather(*(backend.top_logprobs(batch, 5) for batch in batches)))

        result = asyncio.run(run())
        faults = server.stats.snapshot()["faults"]
    assert result == expected
    assert set(faults) == {"429", "500", "stall", "no_logprobs"}
    stats = backend.stats
    assert stats.malformed_retries == faults["no_logprobs"]
    assert stats.client_retries == faults["429"] + faults["500"] + faults["stall"]
    assert stats.failures == 0
    assert "sending the request again" in caplog.text
    assert "retries of the openai client" in caplog.text


def test_rate_limit_exhausted(model):
    with running_server(model, fault_rate=1.0, faults=["429"], retry_after=0.01) as server:
        backend = OpenAICompletionsModel("mock", base_url=server.base_url, max_retries=2)
        with pytest.raises(ModelError) as error:
            ask(backend, step_batch(), 2)
        requests = server.stats.requests
    assert "HTTP 429 after 2 retries" in str(error.value)
    assert "--resume" in str(error.value)
    assert requests == 3


def test_timeout_exhausted(model):
    with running_server(model, fault_rate=1.0, faults=["stall"], stall_seconds=2.0) as server:
        backend = OpenAICompletionsModel("mock", base_url=server.base_url, timeout=0.2, max_retries=0)
        with pytest.raises(ModelError, match="did not respond within 0.2 s"):
            ask(backend, step_batch(), 2)


def test_server_down_error(model):
    with running_server(model) as server:
        base_url = server.base_url
    backend = OpenAICompletionsModel("mock", base_url=base_url, max_retries=0)
    with pytest.raises(ModelError) as error:
        ask(backend, step_batch(), 2)
    assert f"could not connect to {base_url}/completions" in str(error.value)
    assert "--base-url" in str(error.value)


def test_unreadable_prompt_error(model):
    with running_server(model) as server:
        backend = OpenAICompletionsModel("mock", base_url=server.base_url)
        with pytest.raises(ModelError, match="HTTP 400"):
            ask(backend, ["not a prompt in the model's layout"], 2)


# API key ------------------------------------------------------------------------


def test_key_sent_from_env(model, monkeypatch):
    monkeypatch.setenv("MY_SERVER_KEY", FAKE_KEY)
    with running_server(model, require_api_key=FAKE_KEY) as server:
        backend = OpenAICompletionsModel("mock", base_url=server.base_url, api_key_env="MY_SERVER_KEY")
        assert ask(backend, step_batch()[:1], 1)


def test_key_never_leaks(model, monkeypatch, caplog):
    # Recognisable fake keys: neither may appear in a log record, message or repr,
    # even with every logger at DEBUG and retries logged.
    wrong_key = "sk-dpsynth-WRONG-0a9b8c7d6e5f4321"
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OTHER_KEY", wrong_key)
    caplog.set_level(logging.DEBUG)
    options = dict(require_api_key=FAKE_KEY, fault_rate=0.5, faults=["429", "no_logprobs"], retry_after=0.01, seed=1)
    with running_server(model, **options) as server:
        backend = OpenAICompletionsModel("mock", base_url=server.base_url, max_retries=8, malformed_retries=8)
        for prefix in ("", " I", " My"):
            ask(backend, step_batch(prefix), 2)
        rejected = OpenAIChatModel("mock", base_url=server.base_url, api_key_env="OTHER_KEY")
        with pytest.raises(ModelError) as error:
            ask(rejected, step_batch()[:1], 2)
    assert backend.stats.client_retries + backend.stats.malformed_retries > 0
    assert "rejected the API key" in str(error.value)
    assert "OTHER_KEY" in str(error.value)
    texts = [
        str(error.value),
        "".join(traceback.format_exception(error.value)),
        repr(backend),
        repr(rejected),
        str(backend.stats),
        caplog.text,
    ]
    for text in texts:
        for key in (FAKE_KEY, wrong_key):
            assert key not in text
            assert key[-8:] not in text


def test_key_echoed_by_server_is_scrubbed(monkeypatch):
    backend = OpenAICompletionsModel("mock", base_url="http://127.0.0.1:1/v1")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    assert backend._scrub(f"bad key {FAKE_KEY}") == "bad key ***"


def test_openai_needs_key():
    with pytest.raises(ModelError) as error:
        OpenAICompletionsModel("gpt-3.5-turbo-instruct")
    assert "OPENAI_API_KEY" in str(error.value)
    assert "--api-key-env" in str(error.value)


def test_local_server_gets_placeholder(caplog):
    caplog.set_level(logging.INFO, logger="dpsynth")
    assert read_api_key("OPENAI_API_KEY", "http://127.0.0.1:8000/v1") == PLACEHOLDER_API_KEY
    assert "placeholder API key" in caplog.text
    assert read_api_key(None, "https://api.openai.com/v1") == PLACEHOLDER_API_KEY
    assert read_api_key("", "http://127.0.0.1:8000/v1") == PLACEHOLDER_API_KEY


def test_key_as_variable_name_not_quoted():
    # Someone who passes the key itself as the variable name must not see it echoed.
    with pytest.raises(ValueError) as error:
        OpenAICompletionsModel("m", base_url="http://127.0.0.1:1/v1", api_key_env=FAKE_KEY)
    assert FAKE_KEY not in str(error.value)
    with pytest.raises(ModelError) as missing:
        read_api_key("sk_lowercase_key_value", "https://api.openai.com/v1")
    assert "sk_lowercase_key_value" not in str(missing.value)


# Model specs ------------------------------------------------------------------------


def test_spec_forms():
    completions = model_from_spec("openai:llama3:8b", base_url="http://127.0.0.1:1/v1", concurrency=4)
    chat = model_from_spec("openai-chat:gpt-4o-mini", base_url="http://127.0.0.1:1/v1", timeout=5.0)
    assert isinstance(completions, OpenAICompletionsModel)
    assert (completions.model, completions.name, completions.concurrency) == ("llama3:8b", "openai:llama3:8b", 4)
    assert isinstance(chat, OpenAIChatModel)
    assert (chat.name, chat.timeout, chat.max_top_k) == ("openai-chat:gpt-4o-mini", 5.0, 20)
    assert isinstance(model_from_spec("mock"), InContextModel)


@pytest.mark.parametrize("spec", ["gpt-4", "openai:", "openai-chat: ", "anthropic:claude", ""])
def test_bad_spec(spec):
    with pytest.raises(ValueError) as error:
        model_from_spec(spec, base_url="http://127.0.0.1:1/v1")
    assert repr(spec) in str(error.value)
    for form in ("'mock'", "'openai:MODEL'", "'openai-chat:MODEL'"):
        assert form in str(error.value)


def test_mock_spec_rejects_base_url():
    with pytest.raises(ValueError, match="openai:MODEL"):
        model_from_spec("mock", base_url="http://127.0.0.1:1/v1")


@pytest.mark.parametrize(
    "options",
    [
        {"concurrency": 0}, {"timeout": 0}, {"max_retries": -1}, {"max_top_k": 0},
        {"base_url": "127.0.0.1:8000"}, {"max_batch": 0},
    ],
)
def test_backend_rejects_options(options):
    options = {"base_url": "http://127.0.0.1:1/v1", **options}
    with pytest.raises(ValueError):
        OpenAICompletionsModel("m", **options)


def test_backends_satisfy_protocol():
    for backend_class in (OpenAICompletionsModel, OpenAIChatModel):
        assert isinstance(backend_class("m", base_url="http://127.0.0.1:1/v1"), NextTokenModel)


# Private text in errors -----------------------------------------------------------


def echo_repr(prompts: list[str]) -> web.Response:
    error = {"message": f"Invalid prompt {prompts[-1][-200:]!r}.", "type": "invalid_request_error", "code": "bad_prompt"}
    return web.json_response({"error": error}, status=400)


def echo_json(prompts: list[str]) -> web.Response:
    error = {"message": "Rejected request: " + json.dumps(prompts)[-250:], "type": "invalid_request_error"}
    return web.json_response({"error": error}, status=400)


def echo_text(prompts: list[str]) -> web.Response:
    return web.Response(text="Bad request, prompt was: " + prompts[-1][-200:], status=400)


@pytest.mark.parametrize("backend_class", [OpenAICompletionsModel, OpenAIChatModel])
@pytest.mark.parametrize("echo", [echo_repr, echo_json, echo_text])
def test_echoed_prompt_left_out(backend_class, echo):
    async def handler(request: web.Request) -> web.Response:
        return echo(await request_prompts(request))

    prompts = step_batch(" I have")
    with custom_server(handler) as server:
        backend = backend_class("served-model", base_url=server.base_url)
        with pytest.raises(ModelError) as error:
            ask(backend, prompts, 5)
    message = str(error.value)
    assert "HTTP 400" in message
    assert "'served-model'" in message
    assert "quoted the prompt" in message
    if echo is echo_repr:
        assert "'invalid_request_error'" in message
        assert "'bad_prompt'" in message
    assert_no_prompt_text(message, prompts)
    assert_no_prompt_text("".join(traceback.format_exception(error.value)), prompts)


def test_server_message_kept_without_prompt():
    async def handler(request: web.Request) -> web.Response:
        error = {"message": "The model 'served-model' does not exist.", "type": "not_found_error"}
        return web.json_response({"error": error}, status=404)

    with custom_server(handler) as server:
        backend = OpenAICompletionsModel("served-model", base_url=server.base_url)
        with pytest.raises(ModelError) as error:
            ask(backend, step_batch(), 5)
    assert "HTTP 404 (The model 'served-model' does not exist.)" in str(error.value)


def test_quotes_prompt_forms():
    prompt = 'Message: I have had a fever\nand "chills" since Monday.'
    assert quotes_prompt("prompt: I HAVE HAD a fever", [prompt])
    assert quotes_prompt(json.dumps(prompt), [prompt])
    assert quotes_prompt("FEVER and  chills", ["x", prompt])
    assert not quotes_prompt("had a fever", [prompt])
    assert not quotes_prompt("logprobs=21 is more than 20", [prompt])


# Invalid logprobs -------------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 5.0, 1e-5])
def test_invalid_logprob_rejected(value):
    legacy = {"choices": [{"index": 0, "logprobs": {"top_logprobs": [{" a": value, " b": -1.0}]}}]}
    entries = [{"token": " a", "logprob": value}]
    content = {"choices": [{"index": 0, "logprobs": {"content": [{"top_logprobs": entries}]}}]}
    with pytest.raises(InvalidLogprobs):
        completions_candidates(legacy, 1)
    with pytest.raises(InvalidLogprobs):
        chat_candidates(content)


def test_rounding_above_zero_accepted():
    body = {"choices": [{"index": 0, "logprobs": {"top_logprobs": [{" a": 1e-7, " b": -30.0}]}}]}
    assert completions_candidates(body, 1) == [{" a": 1e-7, " b": -30.0}]


def test_probabilities_above_one_rejected():
    entries = {" a": math.log(0.6), " b": math.log(0.5)}
    with pytest.raises(InvalidLogprobs):
        completions_candidates({"choices": [{"index": 0, "logprobs": {"top_logprobs": [entries]}}]}, 1)


def invalid_body(path: str, num_prompts: int, logprob: str) -> str:
    # Raw JSON text, because json.dumps cannot write the literal Infinity that some servers send.
    if path.endswith("/chat/completions"):
        content = f'{{"content": [{{"token": "x", "logprob": {logprob}, "top_logprobs": [{{"token": "x", "logprob": {logprob}}}]}}]}}'
        return f'{{"choices": [{{"index": 0, "logprobs": {content}}}]}}'
    choices = ", ".join(
        f'{{"index": {index}, "logprobs": {{"top_logprobs": [{{"x": {logprob}}}]}}}}' for index in range(num_prompts)
    )
    return f'{{"choices": [{choices}]}}'


@pytest.mark.parametrize("backend_class", [OpenAICompletionsModel, OpenAIChatModel])
@pytest.mark.parametrize("logprob", ["Infinity", "NaN", "5.0"])
def test_invalid_logprobs_retried_then_error(backend_class, logprob, caplog):
    requests = []

    async def handler(request: web.Request) -> web.Response:
        prompts = await request_prompts(request)
        requests.append(len(prompts))
        return web.Response(text=invalid_body(request.path, len(prompts), logprob), content_type="application/json")

    caplog.set_level(logging.DEBUG, logger="dpsynth")
    prompts = step_batch()[:1]
    with custom_server(handler) as server:
        backend = backend_class("served-model", base_url=server.base_url, malformed_retries=2)
        with pytest.raises(ModelError) as error:
            ask(backend, prompts, 5)
    message = str(error.value)
    assert len(requests) == 3
    assert backend.stats.malformed_retries == 2
    assert f"{server.base_url}/{backend.endpoint_path}" in message
    assert "'served-model'" in message
    assert "invalid logprobs in 3 attempt(s)" in message
    assert_no_prompt_text(message, prompts)
    assert_no_prompt_text(caplog.text, prompts)


@pytest.mark.parametrize("backend_class", [OpenAICompletionsModel, OpenAIChatModel])
def test_invalid_logprobs_then_valid(model, backend_class):
    # The first response carries +5.0, the second is the model's own answer.
    prompts = step_batch(" My")
    answered: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        request_batch = await request_prompts(request)
        answered.append(len(request_batch))
        if len(answered) == 1:
            return web.Response(text=invalid_body(request.path, len(request_batch), "5.0"), content_type="application/json")
        candidates = [model.next_token_logprobs(prompt, 3) for prompt in request_batch]
        if request.path.endswith("/chat/completions"):
            entries = [{"token": token, "logprob": value} for token, value in candidates[0].items()]
            return web.json_response({"choices": [{"index": 0, "logprobs": {"content": [{"top_logprobs": entries}]}}]})
        choices = [{"index": index, "logprobs": {"top_logprobs": [top]}} for index, top in enumerate(candidates)]
        return web.json_response({"choices": choices})

    extra = {"restore_word_space": False} if backend_class is OpenAIChatModel else {}
    with custom_server(handler) as server:
        backend = backend_class("mock", base_url=server.base_url, concurrency=1, **extra)
        result = ask(backend, prompts, 3)
    assert backend.stats.malformed_retries == 1
    assert backend.stats.failures == 0
    assert result == [model.next_token_logprobs(prompt, 3) for prompt in prompts]


# Credentials in the base URL --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, None),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("http://user:sk-SECRET@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("https://sk-SECRET@127.0.0.1/v1", "https://127.0.0.1/v1"),
        ("http://127.0.0.1:8000/v1?api_key=sk-SECRET&region=eu", "http://127.0.0.1:8000/v1?region=eu"),
        ("http://127.0.0.1:8000/v1?Key=sk-SECRET&TOKEN=sk-SECRET", "http://127.0.0.1:8000/v1"),
        ("http://u:p@[::1]:8000/v1", "http://[::1]:8000/v1"),
        ("http://[::1/sk-SECRET", "<a URL that could not be parsed>"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_base_url_credentials_hidden(model, caplog):
    caplog.set_level(logging.DEBUG, logger="dpsynth")
    secret = "sk-dpsynth-URL-5e4d3c2b1a09"
    with running_server(model, fault_rate=1.0, faults=["no_logprobs"]) as server:
        base_url = server.base_url.replace("http://", f"http://user:{secret}@")
        backend = OpenAICompletionsModel("mock", base_url=base_url, malformed_retries=1)
        with pytest.raises(ModelError) as error:
            ask(backend, step_batch(), 2)
        chat = OpenAIChatModel("mock", base_url=base_url + "?api_key=" + secret)
    assert f"{server.base_url}/completions" in str(error.value)
    texts = [str(error.value), repr(backend), repr(chat), backend.endpoint, chat.endpoint, caplog.text]
    for text in texts:
        assert secret not in text
    with pytest.raises(ValueError) as invalid:
        OpenAICompletionsModel("mock", base_url=f"ftp://user:{secret}@127.0.0.1/v1")
    assert secret not in str(invalid.value)
    with pytest.raises(ValueError) as mock_error:
        model_from_spec("mock", base_url=base_url)
    assert secret not in str(mock_error.value)
