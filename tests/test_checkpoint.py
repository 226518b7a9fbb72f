"""Tests of the append-only checkpoint: torn lines, ordering, parameters."""

import json

import pytest

from dpsynth.checkpoint import CheckpointError, CheckpointWriter, read_checkpoint

PARAMS = {"config": {"t_max": 4}, "sizes": {"a": 1}}


def _write_run(path):
    with CheckpointWriter.create(path, PARAMS, entropy=1234) as writer:
        writer.record_token("a", 0, 0, " hello")
        writer.record_token("a", 0, 1, "\n")
        writer.record_example("a", 0, "hello", 2)
        writer.record_token("b", 0, 0, " x")


def test_roundtrip(tmp_path):
    path = tmp_path / "run.checkpoint.jsonl"
    _write_run(path)
    state = read_checkpoint(path)
    assert state.params == PARAMS
    assert state.entropy == 1234
    assert state.tokens == {("a", 0): [" hello", "\n"], ("b", 0): [" x"]}
    assert state.selections() == {"a": 2, "b": 1}


def test_create_refuses_existing(tmp_path):
    path = tmp_path / "run.checkpoint.jsonl"
    _write_run(path)
    with pytest.raises(CheckpointError, match="--resume"):
        CheckpointWriter.create(path, PARAMS, entropy=1)


def test_incomplete_last_line_is_dropped_and_cut(tmp_path):
    path = tmp_path / "run.checkpoint.jsonl"
    _write_run(path)
    complete = path.read_bytes()
    path.write_bytes(complete + b'{"kind": "token", "label": "b", "exa')
    state = read_checkpoint(path)
    assert state.selections() == {"a": 2, "b": 1}
    with CheckpointWriter.open_for_resume(path, state) as writer:
        writer.record_token("b", 0, 1, " y")
    resumed = read_checkpoint(path)
    assert resumed.tokens[("b", 0)] == [" x", " y"]
    assert path.read_bytes().startswith(complete)


def test_torn_line_at_every_byte_never_misread(tmp_path):
    # A kill can stop a write at any byte: the reader sees a prefix of the
    # complete lines and never a wrong token.
    path = tmp_path / "run.checkpoint.jsonl"
    _write_run(path)
    complete = path.read_bytes()
    header_end = complete.index(b"\n") + 1
    full = read_checkpoint(path).tokens
    for cut in range(header_end, len(complete) + 1):
        path.write_bytes(complete[:cut])
        tokens = read_checkpoint(path).tokens
        for key, values in tokens.items():
            assert full[key][: len(values)] == values


def test_corrupt_middle_line_raises(tmp_path):
    path = tmp_path / "run.checkpoint.jsonl"
    _write_run(path)
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = "garbage\n"
    path.write_text("".join(lines))
    with pytest.raises(CheckpointError, match="line 3 is not valid JSON"):
        read_checkpoint(path)


def test_out_of_order_step_raises(tmp_path):
    path = tmp_path / "run.checkpoint.jsonl"
    with CheckpointWriter.create(path, PARAMS, entropy=1) as writer:
        writer.record_token("a", 0, 1, " skipped")
    with pytest.raises(CheckpointError, match="expected step 0"):
        read_checkpoint(path)


def test_not_a_checkpoint_raises(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"text": "x", "label": "y"}) + "\n")
    with pytest.raises(CheckpointError, match="not a dpsynth checkpoint"):
        read_checkpoint(path)


def test_header_only_torn_raises(tmp_path):
    path = tmp_path / "run.checkpoint.jsonl"
    path.write_text('{"kind": "header"')
    with pytest.raises(CheckpointError, match="no header line"):
        read_checkpoint(path)


def test_file_is_private(tmp_path):
    path = tmp_path / "run.checkpoint.jsonl"
    _write_run(path)
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "line, problem",
    [
        ("[1, 2]", "is not a JSON object"),
        ('{"kind": "token"}', "is not a valid token line"),
        ('{"kind": "token", "label": "a", "example": "0", "step": 0, "token": "x"}', "is not a valid token line"),
        ("\xe9\xe9", "is not valid JSON"),
    ],
)
def test_malformed_line_raises_checkpoint_error(tmp_path, line, problem):
    path = tmp_path / "run.checkpoint.jsonl"
    _write_run(path)
    with path.open("ab") as handle:
        handle.write(line.encode("latin-1") + b"\n")
    with pytest.raises(CheckpointError, match=f"line 6 {problem}"):
        read_checkpoint(path)


@pytest.mark.parametrize("header", [{"kind": "header", "format": "dpsynth-checkpoint", "version": 1},
                                    {"kind": "header", "format": "dpsynth-checkpoint", "version": 1, "params": {}, "entropy": "abc"}])
def test_bad_header_raises_checkpoint_error(tmp_path, header):
    path = tmp_path / "run.checkpoint.jsonl"
    path.write_text(json.dumps(header) + "\n")
    with pytest.raises(CheckpointError, match="line 1 has no valid parameters or entropy"):
        read_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "absent.checkpoint.jsonl")
