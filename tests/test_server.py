"""The local OpenAI-compatible server, checked with the real openai client over HTTP on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request

import numpy as np
import openai
import pytest

from dpsynth.incontext import InContextModel
from dpsynth.prompts import PromptBundle, few_shot_prompt, zero_shot_prompt
from dpsynth.server import add_serve_mock_parser, create_app, running_server

BUNDLE = PromptBundle()
PROMPTS = [
    zero_shot_prompt(BUNDLE, "influenza", ""),
    few_shot_prompt(BUNDLE, [("influenza", "I have had a fever and chills since Monday.")], "influenza", " I"),
    few_shot_prompt(BUNDLE, [("migraine", "My head hurts behind one eye.")], "migraine", " My head"),
]


@pytest.fixture(scope="module")
def model() -> InContextModel:
    return InContextModel()


def sync_client(server, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", **options)


def test_models_lists_model(model):
    with running_server(model) as server, sync_client(server) as client:
        listed = client.models.list()
    assert [entry.id for entry in listed.data] == ["mock"]


def test_completions_legacy_shape(model):
    with running_server(model) as server, sync_client(server) as client:
        response = client.completions.create(model="any-name", prompt=PROMPTS, max_tokens=1, logprobs=5)
    assert response.model == "any-name"
    assert [choice.index for choice in response.choices] == [0, 1, 2]
    for choice, prompt in zip(response.choices, PROMPTS):
        expected = model.next_token_logprobs(prompt, 5)
        assert choice.logprobs.top_logprobs == [expected]
        assert choice.text == max(expected, key=expected.get)
        assert choice.logprobs.tokens == [choice.text]
        assert choice.logprobs.text_offset == [len(prompt)]


def test_completions_single_prompt_string(model):
    with running_server(model) as server, sync_client(server) as client:
        response = client.completions.create(model="m", prompt=PROMPTS[1], max_tokens=1, logprobs=3)
    assert len(response.choices) == 1
    assert response.choices[0].logprobs.top_logprobs == [model.next_token_logprobs(PROMPTS[1], 3)]


def test_completions_greedy_text(model):
    # Three greedy steps: each token is the argmax after the previous ones.
    prompt = PROMPTS[1]
    expected_tokens = []
    text = ""
    for _ in range(3):
        candidates = model.next_token_logprobs(prompt + text, 1)
        token = next(iter(candidates))
        expected_tokens.append(token)
        text += token
    with running_server(model) as server, sync_client(server) as client:
        response = client.completions.create(model="m", prompt=prompt, max_tokens=3, logprobs=2)
    choice = response.choices[0]
    assert choice.text == text
    assert choice.logprobs.tokens == expected_tokens
    assert choice.finish_reason == "length"
    assert response.usage.completion_tokens == 3


def test_completions_stop_string(model):
    prompt = PROMPTS[1]
    first = next(iter(model.next_token_logprobs(prompt, 1)))
    second = next(iter(model.next_token_logprobs(prompt + first, 1)))
    with running_server(model) as server, sync_client(server) as client:
        response = client.completions.create(model="m", prompt=prompt, max_tokens=5, stop=[second])
    assert response.choices[0].text == first
    assert response.choices[0].finish_reason == "stop"


def test_completions_without_logprobs_field(model):
    with running_server(model) as server, sync_client(server) as client:
        response = client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=1)
    assert response.choices[0].logprobs is None


def test_completions_reversed_choices(model):
    with running_server(model, reverse_choices=True) as server, sync_client(server) as client:
        response = client.completions.create(model="m", prompt=PROMPTS, max_tokens=1, logprobs=2)
    assert [choice.index for choice in response.choices] == [2, 1, 0]
    for choice in response.choices:
        assert choice.logprobs.top_logprobs == [model.next_token_logprobs(PROMPTS[choice.index], 2)]


def test_completions_content_shape(model):
    # llama.cpp's server answers /v1/completions with the chat-shaped logprobs.
    with running_server(model, completions_logprobs_shape="content") as server, sync_client(server) as client:
        response = client.completions.create(model="m", prompt=PROMPTS[1], max_tokens=1, logprobs=4)
    logprobs = response.choices[0].logprobs.model_dump()
    assert logprobs.get("top_logprobs") is None
    entry = logprobs["content"][0]
    expected = model.next_token_logprobs(PROMPTS[1], 4)
    assert {item["token"]: item["logprob"] for item in entry["top_logprobs"]} == expected
    assert entry["top_logprobs"][0]["bytes"] == list(entry["top_logprobs"][0]["token"].encode())


def test_chat_shape_async(model):
    async def ask(base_url: str) -> openai.types.chat.ChatCompletion:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="unused") as client:
            return await client.chat.completions.create(
                model="m",
                messages=[{"role": "system", "content": "ignored"}, {"role": "user", "content": PROMPTS[2]}],
                max_tokens=1,
                logprobs=True,
                top_logprobs=6,
            )

    with running_server(model) as server:
        response = asyncio.run(ask(server.base_url))
        stats = server.stats.snapshot()
    choice = response.choices[0]
    expected = model.next_token_logprobs(PROMPTS[2], 6)
    top = choice.logprobs.content[0].top_logprobs
    assert {item.token: item.logprob for item in top} == expected
    assert choice.message.content == max(expected, key=expected.get)
    assert stats["chat_requests"] == 1


def test_chat_max_completion_tokens(model):
    with running_server(model) as server, sync_client(server) as client:
        response = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": PROMPTS[1]}], max_completion_tokens=2,
        )
    assert response.choices[0].logprobs is None
    assert response.usage.completion_tokens == 2


def test_logprobs_cap_is_400(model):
    with running_server(model, max_logprobs=5) as server, sync_client(server, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as completions_error:
            client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=1, logprobs=6)
        with pytest.raises(openai.BadRequestError) as chat_error:
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": PROMPTS[0]}], max_tokens=1,
                logprobs=True, top_logprobs=6,
            )
    assert "logprobs=6" in str(completions_error.value)
    assert "top_logprobs=6" in str(chat_error.value)


def test_default_cap_is_model_max(model):
    with running_server(model) as server, sync_client(server, max_retries=0) as client:
        client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=1, logprobs=model.max_top_k)
        with pytest.raises(openai.BadRequestError):
            client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=1, logprobs=model.max_top_k + 1)


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "x"},
        {"model": "m", "prompt": [1, 2, 3]},
        {"model": "m", "prompt": []},
        {"model": "m", "prompt": "x", "n": 2},
        {"model": "m", "prompt": "x", "max_tokens": 0},
        {"model": "m", "prompt": "x", "echo": True},
    ],
)
def test_completions_bad_request(model, body):
    with running_server(model) as server, sync_client(server, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError):
            client.post("/completions", body=body, cast_to=object)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": []},
        {"model": "m", "messages": [{"role": "system", "content": "x"}]},
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2},
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "logprobs": "yes"},
    ],
)
def test_chat_bad_request(model, body):
    with running_server(model) as server, sync_client(server, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError):
            client.post("/chat/completions", body=body, cast_to=object)


def test_unreadable_prompt_is_400(model):
    # The offline model reads only prompts in the layout of dpsynth.prompts.
    with running_server(model) as server, sync_client(server, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as error:
            client.completions.create(model="m", prompt="Once upon a time", max_tokens=1)
    assert "The model rejected a prompt" in str(error.value)


def test_unreadable_prompt_end_of_text(model):
    # The LlamaIndex pack keeps appending after the newline that ends a text.
    ended = PROMPTS[1] + " have a fever.\n"
    with running_server(model, on_unreadable_prompt="end_of_text") as server, sync_client(server) as client:
        response = client.completions.create(model="m", prompt=[PROMPTS[1], ended], max_tokens=2, logprobs=3)
        stats = server.stats.snapshot()
    readable, unreadable = response.choices
    assert readable.logprobs.top_logprobs[0] == model.next_token_logprobs(PROMPTS[1], 3)
    assert unreadable.logprobs.top_logprobs == [{"<|endoftext|>": 0.0}]
    assert unreadable.text == ""
    assert unreadable.finish_reason == "stop"
    assert stats["unreadable_prompts"] == 1


def test_invalid_json_is_400(model):
    with running_server(model) as server:
        request = urllib.request.Request(
            server.base_url + "/completions", data=b"{not json", headers={"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=5)
    assert error.value.code == 400


def test_fault_429_headers(model):
    with running_server(model, fault_rate=1.0, faults=["429"], retry_after=0.02) as server, \
            sync_client(server, max_retries=0) as client:
        with pytest.raises(openai.RateLimitError) as error:
            client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=1, logprobs=1)
    headers = error.value.response.headers
    assert headers["retry-after-ms"] == "20"
    assert headers["retry-after"] == "1"


def test_fault_500(model):
    with running_server(model, fault_rate=1.0, faults=["500"]) as server, sync_client(server, max_retries=0) as client:
        with pytest.raises(openai.InternalServerError):
            client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=1, logprobs=1)
        assert server.stats.faults == {"500": 1}


def test_fault_stall_times_out(model):
    with running_server(model, fault_rate=1.0, faults=["stall"], stall_seconds=2.0) as server, \
            sync_client(server, max_retries=0, timeout=0.2) as client:
        with pytest.raises(openai.APITimeoutError):
            client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=1, logprobs=1)


def test_fault_no_logprobs(model):
    with running_server(model, fault_rate=1.0, faults=["no_logprobs"]) as server, sync_client(server) as client:
        completion = client.completions.create(model="m", prompt=PROMPTS, max_tokens=1, logprobs=2)
        chat = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": PROMPTS[0]}], max_tokens=1, logprobs=True, top_logprobs=2,
        )
    assert [choice.logprobs for choice in completion.choices] == [None, None, None]
    assert chat.choices[0].logprobs is None


def test_fault_rate_matches_draws(model):
    # The server draws faults from its generator in arrival order, so a sequential
    # client sees exactly the draws of the same generator.
    rate, requests = 0.2, 60
    draws = np.random.default_rng(7).random(requests) < rate
    with running_server(model, fault_rate=rate, faults=["no_logprobs"], seed=7) as server, sync_client(server) as client:
        observed = []
        for _ in range(requests):
            response = client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=1, logprobs=1)
            observed.append(response.choices[0].logprobs is None)
        stats = server.stats.snapshot()
    assert observed == draws.tolist()
    assert stats["faults"] == {"no_logprobs": int(draws.sum())}
    assert stats["requests"] == requests


def test_api_key_required(model):
    with running_server(model, require_api_key="right-key") as server:
        with sync_client(server, max_retries=0) as client, pytest.raises(openai.AuthenticationError):
            client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=1)
        with openai.OpenAI(base_url=server.base_url, api_key="right-key") as client:
            client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=1)


def test_stats_count_prompts(model):
    with running_server(model) as server, sync_client(server) as client:
        client.completions.create(model="m", prompt=PROMPTS, max_tokens=1, logprobs=1)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": PROMPTS[0]}], max_tokens=1)
        stats = server.stats.snapshot()
    assert stats == {
        "requests": 2, "completions_requests": 1, "chat_requests": 1, "prompts": 4, "unreadable_prompts": 0, "faults": {},
    }


@pytest.mark.parametrize(
    "options",
    [
        {"fault_rate": 1.5},
        {"fault_rate": 0.2, "faults": ["teapot"]},
        {"latency": -1.0},
        {"completions_logprobs_shape": "xml"},
        {"max_logprobs": 0},
        {"on_unreadable_prompt": "ignore"},
    ],
)
def test_create_app_rejects_options(model, options):
    with pytest.raises(ValueError):
        create_app(model, **options)


def test_restart_on_same_port(model):
    with running_server(model) as server:
        port = server.port
    with running_server(model, port=port) as restarted, sync_client(restarted) as client:
        assert restarted.port == port
        assert client.models.list().data[0].id == "mock"


def test_stopped_server_refuses(model):
    with running_server(model) as server:
        pass
    with sync_client(server, max_retries=0) as client, pytest.raises(openai.APIConnectionError):
        client.models.list()


def test_serve_mock_command(tmp_path):
    # The command prints its URL once it listens, serves, and stops on Ctrl+C.
    command = [sys.executable, "-m", "dpsynth.cli", "serve-mock", "--port", "0", "--latency-ms", "1"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line
        base_url = line.split(" at ", 1)[1].split(";", 1)[0]
        with urllib.request.urlopen(base_url + "/models", timeout=10) as response:
            listed = json.load(response)
        assert listed["data"][0]["id"] == "mock"
        stats_url = base_url.removesuffix("/v1") + "/dpsynth/stats"
        with urllib.request.urlopen(stats_url, timeout=10) as response:
            stats = json.load(response)
        assert stats["requests"] == 0
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    assert process.returncode == 0


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "dpsynth.cli", "serve-mock", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_serve_mock_port_in_use(model):
    with running_server(model) as server:
        result = run_cli("--port", str(server.port))
    assert result.returncode == 2
    assert "already in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "99999"], "from 0 to 65535"),
        (["--port", "-1"], "from 0 to 65535"),
        (["--fault-rate", "nan"], "from 0 to 1"),
        (["--fault-rate", "1.5"], "from 0 to 1"),
    ],
)
def test_serve_mock_rejects_options(argv, message, capsys):
    parser = argparse.ArgumentParser(prog="dpsynth")
    add_serve_mock_parser(parser.add_subparsers())
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["serve-mock", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
