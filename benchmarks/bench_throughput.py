"""Throughput of dpsynth against the LlamaIndex pack it replaces, on the same server and work.

Both generate differentially private synthetic examples from the bundled demo
data through an OpenAI-compatible ``/v1/completions`` endpoint: ``dpsynth
serve-mock`` serving the offline in-context model in its own process, with a
fixed latency per request. Requests are counted by the server. The workload: 4 labels x 5 examples, t_max 20, 4 splits of 2 shots,
top-k 5.

dpsynth sends one request per token step (the public prompt and every split's
prompt in one prompt list) and runs ``--concurrency`` examples at once. The pack,
``llama-index-packs-diff-private-simple-dataset==0.4.1`` with
``llama-index-core==0.13.6``, sends 1 + num_splits requests per token step
(the public one first, then the splits' together) through a semaphore, and runs
``batch_size`` examples at once. It runs twice: at its defaults (semaphore 1,
batch size 5) and with both raised to dpsynth's concurrency.

The script installs the pack from PyPI into its own Python 3.11 virtual
environment under a cache folder outside the repository (``--cache-dir``), once.

dpsynth's time is the median of ``--repeat`` runs after one warm-up run, which
loads the code paths and fills the server's caches. Each pack run takes minutes
at its defaults, so it runs once, without a warm-up.

The floor is the least wall time dpsynth's schedule allows: t_max x latency x
the number of sequential waves of examples that the concurrency limit allows,
``ceil(examples / concurrency)``. Examples that end before t_max can finish
under it.

``--smoke`` runs a tiny dpsynth-only workload in seconds, to check that the
script works; its numbers mean nothing.

Usage::

    python benchmarks/bench_throughput.py            # full comparison
    python benchmarks/bench_throughput.py --smoke    # CI check
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from dpsynth.backends import OpenAICompletionsModel
from dpsynth.data import Example, load_demo
from dpsynth.generation import GenerationConfig, generate
from dpsynth.prompts import PromptBundle

PACK_REQUIREMENTS = ("llama-index-packs-diff-private-simple-dataset==0.4.1", "llama-index-core==0.13.6")
PACK_MODEL = "gpt-3.5-turbo-instruct"
PYPI = "https://pypi.org/simple"


@dataclass(frozen=True)
class Workload:
    """The work both implementations do: ``labels x per_label`` examples of at most ``t_max`` tokens."""

    labels: int = 4
    per_label: int = 5
    t_max: int = 20
    num_splits: int = 4
    shots: int = 2
    top_k: int = 5
    sigma: float = 2.0

    @property
    def examples(self) -> int:
        return self.labels * self.per_label


SMOKE = Workload(labels=2, per_label=1, t_max=4)


@dataclass(frozen=True)
class Measurement:
    """One run: wall time in seconds, HTTP requests the server received, tokens selected."""

    name: str
    wall_seconds: float
    requests: int
    tokens: int
    tokens_note: str = ""


def workload_records(workload: Workload) -> list[Example]:
    records = load_demo()
    labels = sorted({record.label for record in records})[: workload.labels]
    return [record for record in records if record.label in labels]


class ServerProcess:
    """``dpsynth serve-mock`` in a child process, so that it shares no interpreter lock with a client."""

    def __init__(self, latency: float) -> None:
        command = [
            sys.executable, "-m", "dpsynth.cli", "serve-mock", "--port", "0",
            "--latency-ms", str(latency * 1000), "--unreadable-prompts", "end_of_text",
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if " at " not in line:
            self.stop()
            raise RuntimeError(f"dpsynth serve-mock did not start (exit status {self.process.returncode})")
        self.base_url = line.split(" at ", 1)[1].split(";", 1)[0]

    def stats(self) -> dict:
        with urllib.request.urlopen(self.base_url.removesuffix("/v1") + "/dpsynth/stats", timeout=30) as response:
            return json.load(response)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=30)


@contextlib.contextmanager
def serve_mock(latency: float) -> Iterator[ServerProcess]:
    server = ServerProcess(latency)
    try:
        yield server
    finally:
        server.stop()


def run_dpsynth(workload: Workload, records: list[Example], server: ServerProcess, concurrency: int,
                seed: int) -> Measurement:
    backend = OpenAICompletionsModel(PACK_MODEL, base_url=server.base_url, api_key_env=None, concurrency=concurrency)
    config = GenerationConfig(
        t_max=workload.t_max, sigma=workload.sigma, num_splits=workload.num_splits,
        num_samples_per_split=workload.shots, top_k=workload.top_k,
    )
    before = server.stats()["requests"]
    start = time.perf_counter()
    result = generate(
        records, backend, workload.per_label, config, seed=seed, concurrency=concurrency, show_progress=False,
    )
    wall = time.perf_counter() - start
    requests = server.stats()["requests"] - before
    return Measurement(f"dpsynth (concurrency {concurrency})", wall, requests, sum(result.selections.values()))


# The pack's side runs in its own interpreter; this driver reads its inputs as JSON on stdin.
PACK_DRIVER = r'''
import asyncio, json, sys, time
from llama_index.core.llama_dataset.base import CreatedBy, CreatedByType
from llama_index.core.llama_dataset.simple import LabelledSimpleDataExample, LabelledSimpleDataset
from llama_index.llms.openai import OpenAI
from llama_index.packs.diff_private_simple_dataset import DiffPrivateSimpleDatasetPack
from llama_index.packs.diff_private_simple_dataset.base import PromptBundle

spec = json.load(sys.stdin)
llm = OpenAI(model=spec["model"], api_base=spec["base_url"], api_key="placeholder",
             max_tokens=1, logprobs=True, top_logprobs=spec["top_k"])
dataset = LabelledSimpleDataset(examples=[
    LabelledSimpleDataExample(reference_label=r["label"], text=r["text"], text_by=CreatedBy(type=CreatedByType.HUMAN))
    for r in spec["records"]
])
bundle = PromptBundle(**spec["bundle"])
options = {} if spec["semaphore"] is None else {"sephamore_counter_size": spec["semaphore"], "batch_size": spec["batch_size"]}
pack = DiffPrivateSimpleDatasetPack(llm=llm, tokenizer=None, prompt_bundle=bundle, simple_dataset=dataset,
                                    show_progress=False, **options)
start = time.perf_counter()
result = asyncio.run(pack.arun(sizes=spec["per_label"], t_max=spec["t_max"], sigma=spec["sigma"],
                               num_splits=spec["num_splits"], num_samples_per_split=spec["shots"]))
print(json.dumps({"wall_seconds": time.perf_counter() - start, "examples": len(result.examples),
                  "semaphore": pack._semaphore._value, "batch_size": pack.batch_size}))
'''


def pack_python(cache_dir: Path, base_python: str) -> Path:
    """Return the pack environment's interpreter, creating the environment on first use."""
    venv = cache_dir / "pack-venv"
    python = venv / "bin" / "python"
    marker = venv / "dpsynth-requirements.txt"
    wanted = "\n".join(PACK_REQUIREMENTS)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
    # PyPI only: no local indexes, wheel folders or constraints from pip's configuration.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    environment["PIP_CONFIG_FILE"] = os.devnull
    if os.environ.get("PIP_CERT"):
        environment["PIP_CERT"] = os.environ["PIP_CERT"]
    install = [str(python), "-m", "pip", "install", "--quiet", "--index-url", PYPI, *PACK_REQUIREMENTS]
    completed = subprocess.run(install, env=environment, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(
            f"installing {' '.join(PACK_REQUIREMENTS)} from {PYPI} failed "
            f"(exit status {completed.returncode}):\n{completed.stderr[-2000:]}"
        )
    marker.write_text(wanted)
    return python


def run_pack(python: Path, workload: Workload, records: list[Example], server: ServerProcess,
             semaphore: int | None, batch_size: int | None, name: str) -> Measurement:
    spec = {
        "model": PACK_MODEL,
        "base_url": server.base_url,
        "top_k": workload.top_k,
        "records": [{"text": record.text, "label": record.label} for record in records],
        "bundle": {key: value for key, value in asdict(PromptBundle()).items()},
        "semaphore": semaphore,
        "batch_size": batch_size,
        "per_label": workload.per_label,
        "t_max": workload.t_max,
        "sigma": workload.sigma,
        "num_splits": workload.num_splits,
        "shots": workload.shots,
    }
    before = server.stats()["requests"]
    with tempfile.TemporaryDirectory() as workdir:
        # The pack writes checkpoint.json into its working directory.
        completed = subprocess.run(
            [str(python), "-c", PACK_DRIVER], input=json.dumps(spec), capture_output=True, text=True, cwd=workdir,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"the pack's run failed:\n{completed.stderr[-3000:]}")
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    requests = server.stats()["requests"] - before
    # Each of the pack's token steps sends one public and num_splits private requests.
    steps = requests // (1 + workload.num_splits)
    label = f"{name} (semaphore {report['semaphore']}, batch size {report['batch_size']})"
    return Measurement(label, report["wall_seconds"], requests, steps, "requests / (1 + num_splits)")


def floor_seconds(workload: Workload, latency: float, concurrency: int) -> float:
    waves = math.ceil(workload.examples / concurrency)
    return workload.t_max * latency * waves


def print_table(measurements: list[Measurement]) -> None:
    print(f"{'run':<48} {'wall s':>8} {'requests':>9} {'tokens':>7} {'ms/token':>9}")
    for item in measurements:
        per_token = 1000 * item.wall_seconds / item.tokens if item.tokens else float("nan")
        note = f"  tokens = {item.tokens_note}" if item.tokens_note else ""
        print(f"{item.name:<48} {item.wall_seconds:8.2f} {item.requests:9d} {item.tokens:7d} {per_token:9.1f}{note}")


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny dpsynth-only run that checks the script works")
    parser.add_argument("--latency-ms", type=float, help="server latency per request in ms (default 50; smoke 5)")
    parser.add_argument("--concurrency", type=int, default=20, help="dpsynth's examples and requests in flight")
    parser.add_argument("--seed", type=int, default=0, help="seed of dpsynth's run")
    parser.add_argument("--repeat", type=int, default=3, help="dpsynth runs after the warm-up; the median counts")
    parser.add_argument("--skip-pack", action="store_true", help="measure dpsynth only")
    parser.add_argument(
        "--cache-dir", type=Path,
        default=Path(os.environ.get("DPSYNTH_BENCH_CACHE", Path.home() / ".cache" / "dpsynth-bench")),
        help="folder of the pack's virtual environment (default: $DPSYNTH_BENCH_CACHE or ~/.cache/dpsynth-bench)",
    )
    parser.add_argument("--pack-python", default=shutil.which("python3.11"), help="Python 3.11 for the pack's environment")
    parser.add_argument("--json", type=Path, help="also write the measurements to this JSON file")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.concurrency < 1:
        parser.error("--repeat and --concurrency must be 1 or more")

    workload = SMOKE if args.smoke else Workload()
    latency_ms = args.latency_ms
    if latency_ms is None:
        latency_ms = 5.0 if args.smoke else 50.0
    latency = latency_ms / 1000
    skip_pack = args.skip_pack or args.smoke
    records = workload_records(workload)
    print(f"Workload: {workload}, latency {latency * 1000:g} ms per request; machine: {machine()}")

    python = None
    if not skip_pack:
        if not args.pack_python:
            parser.error("no python3.11 found for the pack's environment: pass --pack-python")
        python = pack_python(args.cache_dir, args.pack_python)

    measurements = []
    with serve_mock(latency) as server:
        run_dpsynth(workload, records, server, args.concurrency, args.seed)
        runs = sorted(
            (run_dpsynth(workload, records, server, args.concurrency, args.seed) for _ in range(args.repeat)),
            key=lambda item: item.wall_seconds,
        )
        median = runs[len(runs) // 2]
        all_walls = ", ".join(f"{item.wall_seconds:.2f}" for item in runs)
        measurements.append(replace(median, name=f"{median.name}, median of {len(runs)}"))
        if python is not None:
            measurements.append(run_pack(python, workload, records, server, None, None, "pack defaults"))
            measurements.append(
                run_pack(python, workload, records, server, args.concurrency, workload.examples, "pack raised")
            )
        unreadable = server.stats()["unreadable_prompts"]

    print_table(measurements)
    print(f"dpsynth runs after the warm-up: {all_walls} s")
    floor = floor_seconds(workload, latency, args.concurrency)
    dpsynth = measurements[0]
    print(
        f"floor: t_max {workload.t_max} x latency {latency * 1000:g} ms x "
        f"{math.ceil(workload.examples / args.concurrency)} wave(s) = {floor:.2f} s; "
        f"dpsynth / floor = {dpsynth.wall_seconds / floor:.2f} (target <= 1.5)"
    )
    if len(measurements) == 3:
        print(f"pack defaults / dpsynth = {measurements[1].wall_seconds / dpsynth.wall_seconds:.1f}x (target >= 10)")
        print(f"pack raised / dpsynth = {measurements[2].wall_seconds / dpsynth.wall_seconds:.1f}x (target >= 3)")
        print(f"prompts past a text's end answered with <|endoftext|>: {unreadable}")
    if args.json:
        args.json.write_text(json.dumps(
            {"workload": asdict(workload), "latency_seconds": latency, "floor_seconds": floor,
             "machine": machine(), "measurements": [asdict(item) for item in measurements]},
            indent=2,
        ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
