"""Tests of the dpsynth command: the demo run, bad input, and resuming after a kill."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from dpsynth.cli import main

FAST = ["--t-max", "6", "--sizes", "1", "--no-progress", "--seed", "0"]


def _outputs(directory):
    return sorted(path.name for path in directory.iterdir())


def test_demo_writes_dataset_and_report(tmp_path, capsys):
    out = tmp_path / "synthetic.jsonl"
    assert main(["generate", "--demo", "--out", str(out), *FAST]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) >= 5
    assert all(json.loads(line)["text"] is not None for line in lines)
    report = json.loads((tmp_path / "synthetic.jsonl.privacy.json").read_text())
    printed = capsys.readouterr().out
    assert f"epsilon = {report['privacy']['dataset_epsilon']['estimate']:.3f}" in printed
    assert (tmp_path / "synthetic.jsonl.privacy.md").exists()


def test_formats_follow_suffix(tmp_path):
    for name in ("out.csv", "out.json"):
        assert main(["generate", "--demo", "--out", str(tmp_path / name), *FAST]) == 0
    assert (tmp_path / "out.csv").read_text().startswith("text,label\n")
    assert "examples" in json.loads((tmp_path / "out.json").read_text())


def _write(path, text):
    path.write_text(text)
    return path


BAD_INPUTS = [
    (lambda d: ["--data", str(d / "absent.jsonl")], "not found"),
    (lambda d: ["--data", str(_write(d / "empty.jsonl", ""))], "is empty"),
    (lambda d: ["--data", str(_write(d / "cols.csv", "body,label\nhi,a\n"))], "no 'text' column"),
    (lambda d: ["--data", str(_write(d / "blank.csv", "text,label\n ,a\n"))], "empty 'text'"),
    (lambda d: ["--data", str(_write(d / "few.csv", "text,label\n" + "x,a\n" * 3)), "--num-splits", "4"], r"has 3 record\(s\)"),
    (lambda d: ["--demo", "--sizes", "zebra=1"], "'zebra' that the data does not contain"),
    (lambda d: ["--demo", "--sigma", "0"], "--sigma"),
    (lambda d: ["--demo", "--sigma", "nan"], "--sigma"),
    (lambda d: ["--demo", "--sigma", "inf"], "--sigma"),
    (lambda d: ["--demo", "--delta", "1"], "--delta"),
    (lambda d: ["--demo", "--delta", "0"], "--delta"),
    (lambda d: ["--demo", "--t-max", "0"], "--t-max"),
    (lambda d: ["--demo", "--num-splits", "0"], "--num-splits"),
    (lambda d: ["--demo", "--shots", "0"], "--shots"),
    (lambda d: ["--demo", "--top-k", "50"], "top_k=50 is more than model"),
    (lambda d: ["--demo", "--max-epsilon", "0.1"], "more than max_epsilon=0.1"),
]


def _run(args):
    """Run the command in-process and return its exit status, argparse errors included."""
    try:
        return main(args)
    except SystemExit as exit:
        return exit.code


@pytest.mark.parametrize("make_args, message", BAD_INPUTS)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, make_args, message):
    data = tmp_path / "data"
    data.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    status = _run(["generate", *make_args(data), "--out", str(work / "out.jsonl"), "--no-progress"])
    error = capsys.readouterr().err
    assert status == 2
    assert re.search(message, error), error
    assert _outputs(work) == []


def test_existing_output_needs_resume_or_force(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    out.write_text("keep me\n")
    assert _run(["generate", "--demo", "--out", str(out), *FAST]) == 2
    assert "--resume" in capsys.readouterr().err
    assert out.read_text() == "keep me\n"
    assert _outputs(tmp_path) == ["out.jsonl"]
    assert _run(["generate", "--demo", "--out", str(out), "--force", *FAST]) == 0
    assert out.read_text() != "keep me\n"


def test_resume_with_changed_parameters_exits_2(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert _run(["generate", "--demo", "--out", str(out), *FAST]) == 0
    before = out.read_bytes()
    changed = [*FAST[:1], "7", *FAST[2:]]
    assert _run(["generate", "--demo", "--out", str(out), "--resume", *changed]) == 2
    assert "t_max: checkpoint 6, request 7" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_epsilon_json(capsys):
    args = ["epsilon", "--sigma", "0.39", "--sample-rate", str(20 / 30000), "--compositions", "100", "--delta", str(1 / 30000), "--json"]
    assert _run(args) == 0
    values = json.loads(capsys.readouterr().out)
    assert set(values) == {"epsilon", "epsilon_lower", "epsilon_upper"}
    assert values["epsilon_lower"] <= values["epsilon"] <= values["epsilon_upper"]
    # The published AGNews setting: sigma 0.39 gives epsilon about 3.815.
    assert values["epsilon"] == pytest.approx(3.815, abs=0.02)


def test_calibrate_json(capsys):
    args = ["calibrate", "--epsilon", "4", "--sample-rate", str(20 / 30000), "--compositions", "100", "--delta", str(1 / 30000), "--json"]
    assert _run(args) == 0
    values = json.loads(capsys.readouterr().out)
    assert set(values) == {"sigma", "epsilon"}
    assert values["epsilon"] <= 4
    assert values["sigma"] == pytest.approx(0.385, abs=0.005)


def test_exponential_alias(capsys):
    args = ["epsilon", "--mechanism", "exponential", "--epsilon-per-token", "1", "--sample-rate", "1", "--compositions", "1", "--delta", "1e-6", "--json"]
    assert _run(args) == 0
    # One eps0-DP step is (eps0 - 1.4e-6, 1e-6)-DP: randomized response trades a little delta.
    assert json.loads(capsys.readouterr().out)["epsilon"] == pytest.approx(1.0 - 1e-6 * (1 + math.e) / math.e, abs=1e-8)


def test_help_documents_every_option(capsys):
    assert _run(["generate", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--t-max", "--sigma", "--epsilon", "--delta", "--num-splits", "--shots", "--top-k",
                   "--mechanism", "--sampling", "--seed", "--concurrency", "--out", "--resume", "--max-epsilon"):
        assert option in text


def test_killed_run_resumes_to_same_dataset(tmp_path):
    # A real process killed with SIGKILL mid-run, then resumed, gives the dataset
    # of an uninterrupted run with the same seed.
    command = [sys.executable, "-m", "dpsynth.cli", "generate", "--demo", "--sizes", "2", "--t-max", "12",
               "--seed", "21", "--concurrency", "2", "--no-progress"]
    reference = tmp_path / "reference.jsonl"
    subprocess.run([*command, "--out", str(reference)], check=True, capture_output=True)

    out = tmp_path / "killed.jsonl"
    checkpoint = tmp_path / "killed.jsonl.checkpoint.jsonl"
    process = subprocess.Popen([*command, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if checkpoint.exists() and checkpoint.read_text().count('"kind": "token"') >= 25:
            break
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not out.exists()

    resumed = subprocess.run([*command, "--out", str(out), "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_text() == reference.read_text()


def test_help_shows_no_empty_defaults(capsys):
    for command in ("generate", "epsilon", "calibrate", "report"):
        assert _run([command, "--help"]) == 0
        text = capsys.readouterr().out
        assert "(default: None)" not in text
        assert text.count("(default:") <= text.count("--")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--sizes", "asthma=2,asthma=3"], "appears twice"),
        (["--seed", "-1"], "--seed"),
        (["--checkpoint", "{out}"], "same file as --out"),
        (["--checkpoint", "{out}.privacy.json"], "same file as the report"),
        (["--checkpoint", "{dir}"], "is a directory"),
        (["--resume"], "nothing to resume"),
    ],
)
def test_more_bad_input_exits_2(tmp_path, capsys, extra, message):
    out = tmp_path / "out.jsonl"
    arguments = [part.format(out=out, dir=tmp_path) for part in extra]
    assert _run(["generate", "--demo", "--out", str(out), *FAST[:-2], *arguments]) == 2
    assert message in capsys.readouterr().err
    assert _outputs(tmp_path) == []


def test_replace_one_target_is_met(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    args = ["generate", "--demo", "--out", str(out), "--sizes", "1", "--t-max", "5", "--epsilon", "3",
            "--neighbouring", "replace_one", "--no-progress", "--seed", "1"]
    assert _run(args) == 0
    report = json.loads((tmp_path / "out.jsonl.privacy.json").read_text())
    worst = report["privacy"]["dataset_epsilon_worst_case"]["upper"]
    assert 2.9 <= worst <= 3.0
    assert report["privacy"]["assumptions"]["neighbouring"] == "replace_one"
    rebuilt = subprocess.run(
        [sys.executable, "-m", "dpsynth.cli", "report", str(tmp_path / "out.jsonl.checkpoint.jsonl"), "--json"],
        capture_output=True, text=True, check=True,
    )
    assert json.loads(rebuilt.stdout)["privacy"] == report["privacy"]


def test_broken_pipe_is_quiet(tmp_path):
    command = (f"{sys.executable} -m dpsynth.cli generate --demo --no-progress --sizes 1 --t-max 4 "
               f"--out {tmp_path / 'out.jsonl'} | true")
    completed = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in completed.stderr
