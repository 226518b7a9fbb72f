"""End to end: generation through the OpenAI backends and the local server over HTTP on 127.0.0.1.

The server serves the same offline model that runs in process, and JSON carries
floats exactly, so every run below must give the in-process dataset.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dpsynth.backends import OpenAIChatModel, OpenAICompletionsModel
from dpsynth.data import load_demo
from dpsynth.generation import GenerationConfig, agenerate, generate
from dpsynth.incontext import InContextModel
from dpsynth.server import running_server

FAKE_KEY = "sk-dpsynth-FAKE-e2e-7a6b5c4d3e2f1a0b"
CONFIG = GenerationConfig(t_max=8, num_splits=4, num_samples_per_split=2, top_k=5)
SIZES = 2
SEED = 0
# Seed 16 draws all four fault kinds within the first 20 requests at a 20% rate.
FAULTS = dict(fault_rate=0.2, seed=16, retry_after=0.01, stall_seconds=1.0)
CLI_ARGS = ["--demo", "--sizes", "2", "--t-max", "8", "--seed", "0", "--no-progress"]


@pytest.fixture(scope="module")
def model() -> InContextModel:
    return InContextModel()


@pytest.fixture(scope="module")
def records():
    return load_demo()


@pytest.fixture(scope="module")
def in_process(model, records):
    return generate(records, model, SIZES, CONFIG, seed=SEED, show_progress=False).examples


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def test_completions_same_dataset(model, records, in_process):
    with running_server(model) as server:
        backend = OpenAICompletionsModel("mock", base_url=server.base_url)
        result = generate(records, backend, SIZES, CONFIG, seed=SEED, concurrency=8, show_progress=False)
        stats = server.stats.snapshot()
    assert result.examples == in_process
    assert result.model == "openai:mock"
    # Every token step's prompts reach the server once; concurrent steps share requests.
    selections = sum(result.selections.values())
    assert stats["prompts"] == selections * (CONFIG.num_splits + 1)
    assert stats["completions_requests"] < selections


def test_chat_same_dataset(model, records, in_process):
    async def run(base_url: str):
        backend = OpenAIChatModel("mock", base_url=base_url, concurrency=16)
        async with backend:
            return await agenerate(records, backend, SIZES, CONFIG, seed=SEED, concurrency=8, show_progress=False)

    with running_server(model) as server:
        result = asyncio.run(run(server.base_url))
        stats = server.stats.snapshot()
    assert result.examples == in_process
    assert stats["chat_requests"] == sum(result.selections.values()) * (CONFIG.num_splits + 1)


@pytest.mark.parametrize(
    ("backend_class", "kinds"),
    [
        (OpenAICompletionsModel, ("429", "500", "stall", "no_logprobs")),
        # Stalls cost a timeout and a backoff each, and the chat backend sends five
        # times as many requests; the backend tests cover its stalls.
        (OpenAIChatModel, ("429", "500", "no_logprobs")),
    ],
)
def test_faults_same_dataset(model, records, in_process, backend_class, kinds):
    with running_server(model, faults=kinds, **FAULTS) as server:
        backend = backend_class("mock", base_url=server.base_url, timeout=0.3, max_retries=6, malformed_retries=4)
        result = generate(records, backend, SIZES, CONFIG, seed=SEED, concurrency=8, show_progress=False)
        faults = server.stats.snapshot()["faults"]
    assert result.examples == in_process
    assert set(faults) == set(kinds)
    assert backend.stats.failures == 0


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "dpsynth.cli", "generate", *args]
    environment = {key: value for key, value in os.environ.items() if key not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    environment.update(env or {})
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=240)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def cli_reference(tmp_path_factory) -> list[dict]:
    """The dataset of the command with the in-process model."""
    out = tmp_path_factory.mktemp("reference") / "local.jsonl"
    local = run_cli(*CLI_ARGS, "--out", str(out))
    assert local.returncode == 0, local.stderr
    return read_jsonl(out)


def test_cli_matches_in_process(model, tmp_path, cli_reference):
    # The command against the server, with a key the server requires, gives the
    # in-process command's dataset, and the key shows in none of its outputs.
    with running_server(model, require_api_key=FAKE_KEY) as server:
        remote = run_cli(
            *CLI_ARGS, "--model", "openai:mock", "--base-url", server.base_url,
            "--out", str(tmp_path / "remote.jsonl"), env={"OPENAI_API_KEY": FAKE_KEY},
        )
    assert remote.returncode == 0, remote.stderr
    assert read_jsonl(tmp_path / "remote.jsonl") == cli_reference
    written = [path.read_text(encoding="utf-8", errors="replace") for path in tmp_path.iterdir() if path.is_file()]
    for text in [remote.stdout, remote.stderr, *written]:
        assert FAKE_KEY not in text


def test_cli_no_logprobs_error(model, tmp_path):
    out = tmp_path / "out.jsonl"
    with running_server(model, fault_rate=1.0, faults=["no_logprobs"]) as server:
        result = run_cli(*CLI_ARGS, "--model", "openai:served-model", "--base-url", server.base_url, "--out", str(out))
    assert result.returncode == 1
    assert f"{server.base_url}/completions (model 'served-model')" in result.stderr
    assert "returned no top logprobs" in result.stderr
    assert "--model openai-chat:served-model" in result.stderr
    assert not out.exists()


def wait_for_tokens(checkpoint: Path, count: int, process: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline and process.poll() is None:
        if checkpoint.exists():
            tokens = checkpoint.read_text(encoding="utf-8").count('"kind": "token"')
            if tokens >= count:
                return
        time.sleep(0.02)
    raise AssertionError(f"the run wrote fewer than {count} tokens before it ended or timed out")


def test_cli_server_stopped_then_resumed(model, tmp_path, cli_reference):
    # Stop the server mid-run: the command fails with a clear error and keeps a
    # valid checkpoint. Resuming against a restarted server on the same port
    # gives the dataset of an uninterrupted run, which is the in-process one
    # whatever the concurrency (test_cli_matches_in_process).
    args = [*CLI_ARGS, "--model", "openai:mock", "--concurrency", "1"]
    out = tmp_path / "out.jsonl"
    checkpoint = tmp_path / "out.jsonl.checkpoint.jsonl"
    with running_server(model, latency=0.03) as server:
        port = server.port
        command = [sys.executable, "-m", "dpsynth.cli", "generate", *args, "--base-url", server.base_url, "--out", str(out)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for_tokens(checkpoint, 20, process, time.monotonic() + 120)
        finally:
            server.stop()
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert f"could not connect to {server.base_url}/completions (model 'mock')" in stderr
    assert "--resume" in stderr
    assert not out.exists()
    lines = read_jsonl(checkpoint)
    assert lines[0]["kind"] == "header"
    assert sum(line["kind"] == "token" for line in lines) >= 20

    with running_server(model, port=port) as restarted:
        resumed = run_cli(*args, "--base-url", restarted.base_url, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert read_jsonl(out) == cli_reference


def test_benchmark_smoke(tmp_path):
    # The throughput benchmark's CI mode: dpsynth only, a tiny workload, seconds.
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_throughput.py"
    report = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, str(script), "--smoke", "--repeat", "1", "--json", str(report)],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "dpsynth / floor" in completed.stdout
    measured = json.loads(report.read_text())
    [dpsynth] = measured["measurements"]
    assert dpsynth["tokens"] >= 2
    assert 1 <= dpsynth["requests"] <= dpsynth["tokens"]
    assert measured["floor_seconds"] == pytest.approx(4 * 0.005)
