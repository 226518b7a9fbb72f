"""An append-only JSONL checkpoint: the run's parameters, every selected token, every finished example.

The file is the run's ledger of spent privacy budget. Its lines are:

``{"kind": "header", ...}``
    The first line: the format version, the run's parameters and the seed entropy.
    It is written to a temporary file that is renamed into place, so the
    checkpoint either exists with its header or does not exist.
``{"kind": "token", "label": ..., "example": i, "step": t, "token": ...}``
    One noisy selection, appended before the token is used. The count of these
    lines per label is the number of compositions spent on that label, so a run
    that stops at any moment has never used a selection it did not record.
``{"kind": "example", "label": ..., "example": i, "text": ..., "selections": n}``
    A finished synthetic example, for readers of the file. Resuming rebuilds the
    state from the token lines alone.

A run killed during a write leaves at most one incomplete last line, which
:func:`read_checkpoint` drops and :meth:`CheckpointWriter.open_for_resume` cuts
off before appending. Selected tokens are the mechanism's output and are safe to
store. The checkpoint stores no private text, no split distribution and no noise
draw, but it stores the seed entropy that determines the noise: keep it as
private as the data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import write_text_atomically

__all__ = [
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "CheckpointState",
    "CheckpointWriter",
    "read_checkpoint",
]

CHECKPOINT_VERSION = 1
_FORMAT = "dpsynth-checkpoint"


class CheckpointError(ValueError):
    """A checkpoint is unreadable, or belongs to a different request."""


@dataclass
class CheckpointState:
    """The contents of a checkpoint: parameters, entropy and the tokens selected so far.

    Attributes
    ----------
    params
        The run's parameters as written in the header.
    entropy
        The seed entropy of the run's ``numpy.random.SeedSequence``.
    tokens
        ``(label, example index) -> selected tokens in step order``.
    complete_bytes
        Length of the file's valid prefix; anything after it is an incomplete line.
    """

    params: dict[str, Any]
    entropy: int
    tokens: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    complete_bytes: int = 0

    def selections(self) -> dict[str, int]:
        """Return the number of noisy selections recorded per label."""
        counts: dict[str, int] = {}
        for (label, _), tokens in self.tokens.items():
            counts[label] = counts.get(label, 0) + len(tokens)
        return counts


def _header_line(params: Mapping[str, Any], entropy: int) -> str:
    header = {
        "kind": "header",
        "format": _FORMAT,
        "version": CHECKPOINT_VERSION,
        "params": dict(params),
        "entropy": entropy,
    }
    return json.dumps(header, ensure_ascii=False, sort_keys=True) + "\n"


def read_checkpoint(path: str | os.PathLike[str]) -> CheckpointState:
    """Read a checkpoint, dropping an incomplete last line.

    Raises
    ------
    CheckpointError
        The file has no valid header, or a line before the last is malformed or
        out of order, which a dpsynth run never writes.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} not found: give the OUT.checkpoint.jsonl of a run.")
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    # The piece after the last newline is empty for a complete file and an
    # incomplete line otherwise. In both cases it is not part of the checkpoint.
    complete = lines[:-1]
    if not complete:
        raise CheckpointError(f"checkpoint {str(path)!r} has no header line: delete it and start again.")
    try:
        header = json.loads(complete[0])
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a dpsynth checkpoint (no valid header line).")
    if header.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has version {header.get('version')!r}; this dpsynth reads "
            f"version {CHECKPOINT_VERSION}. Finish it with the dpsynth that wrote it."
        )
    params, entropy = header.get("params"), header.get("entropy")
    if not isinstance(params, dict) or isinstance(entropy, bool) or not isinstance(entropy, int) or entropy < 0:
        raise CheckpointError(_changed(path, 1, "has no valid parameters or entropy"))
    state = CheckpointState(params=params, entropy=entropy)
    for number, line in enumerate(complete[1:], start=2):
        try:
            entry = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CheckpointError(_changed(path, number, "is not valid JSON")) from None
        if not isinstance(entry, dict):
            raise CheckpointError(_changed(path, number, "is not a JSON object"))
        if entry.get("kind") == "token":
            _add_token(state, entry, path, number)
    state.complete_bytes = sum(len(line) + 1 for line in complete)
    return state


def _changed(path: Path, number: int, problem: str) -> str:
    return (
        f"checkpoint {str(path)!r}: line {number} {problem}. The file was changed by something "
        "other than dpsynth; restore it or start a new run with --force."
    )


def _add_token(state: CheckpointState, entry: Mapping[str, Any], path: Path, number: int) -> None:
    label, example, step, token = (entry.get(key) for key in ("label", "example", "step", "token"))
    valid = (
        isinstance(label, str)
        and isinstance(token, str)
        and all(isinstance(value, int) and not isinstance(value, bool) for value in (example, step))
    )
    if not valid:
        raise CheckpointError(_changed(path, number, "is not a valid token line"))
    tokens = state.tokens.setdefault((label, example), [])
    if step != len(tokens):
        raise CheckpointError(
            f"checkpoint {str(path)!r}: line {number} records step {step} of example {example} of "
            f"label {label!r}, expected step {len(tokens)}."
        )
    tokens.append(token)


class CheckpointWriter:
    """Appends token and example lines to a checkpoint, flushing each line.

    Each line is written with one ``write`` call and flushed to the operating
    system, so a killed process loses at most the line being written. Finished
    examples are also synced to disk with ``fsync``.
    """

    def __init__(self, path: Path, handle: Any) -> None:
        self.path = path
        self._handle = handle

    @classmethod
    def create(cls, path: str | os.PathLike[str], params: Mapping[str, Any], entropy: int) -> CheckpointWriter:
        """Create a new checkpoint with its header; the file must not exist."""
        path = Path(path)
        if path.exists():
            raise CheckpointError(
                f"checkpoint {str(path)!r} already exists: resume its run (resume=True, --resume), "
                "or delete it to start over (--force)."
            )
        write_text_atomically(path, _header_line(params, entropy))
        os.chmod(path, 0o600)
        return cls(path, path.open("ab"))

    @classmethod
    def open_for_resume(cls, path: str | os.PathLike[str], state: CheckpointState) -> CheckpointWriter:
        """Open an existing checkpoint for appending, cutting off an incomplete last line."""
        path = Path(path)
        handle = path.open("r+b")
        handle.truncate(state.complete_bytes)
        handle.seek(0, os.SEEK_END)
        return cls(path, handle)

    def _append(self, entry: Mapping[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        self._handle.write(line.encode("utf-8"))
        self._handle.flush()

    def record_token(self, label: str, example: int, step: int, token: str) -> None:
        """Record one noisy selection before the token is used."""
        self._append({"kind": "token", "label": label, "example": example, "step": step, "token": token})

    def record_example(self, label: str, example: int, text: str, selections: int) -> None:
        """Record a finished synthetic example and sync the file to disk."""
        self._append(
            {"kind": "example", "label": label, "example": example, "text": text, "selections": selections}
        )
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Flush, sync and close the file."""
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
