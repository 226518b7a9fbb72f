"""Labelled records in and out: CSV, JSONL and the LlamaIndex dataset JSON.

A record is a :class:`Example`: a text and its label. Readers return records in
file order and check what the algorithm needs: the file exists and is not empty,
the named columns exist, and no text or label is empty. Error messages name the
file, the record's line or position and the fix, never a record's text.

Writers write to a temporary file beside the target and rename it into place, so
an interrupted write never leaves a half-written dataset.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "DEMO_DATASET",
    "DataError",
    "Example",
    "FORMATS",
    "detect_format",
    "group_by_label",
    "label_counts",
    "load_demo",
    "load_records",
    "write_records",
    "write_text_atomically",
]

FORMATS = ("jsonl", "csv", "llamaindex")
"""File formats: JSON Lines, CSV, and LlamaIndex's ``LabelledSimpleDataset`` JSON."""

DEMO_DATASET = "patient_messages.jsonl"

# Texts of any length are valid records; the csv module's default limit is 128 KiB a field.
csv.field_size_limit(2**31 - 1)
"""The bundled, fictional teaching dataset in ``dpsynth/datasets/``."""


class DataError(ValueError):
    """A data file is missing, empty or malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class Example:
    """One labelled text: a private record, or a synthetic one."""

    text: str
    label: str


def detect_format(path: str | os.PathLike[str]) -> str:
    """Return the format named by the file's suffix: ``.jsonl``, ``.csv`` or ``.json``."""
    suffix = Path(path).suffix.lower()
    formats = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".json": "llamaindex"}
    if suffix not in formats:
        raise DataError(
            f"cannot tell the format of {str(path)!r} from its suffix {suffix!r}: use .jsonl, "
            ".csv or .json (LlamaIndex LabelledSimpleDataset). A data file with another suffix "
            "can be read with --format."
        )
    return formats[suffix]


def _checked_value(row: Mapping[str, Any], column: str, where: str, path: Path) -> str:
    # Field names are not quoted: in a file without a header they are a record's text.
    if column not in row:
        raise DataError(
            f"{path}: {where} has no {column!r} field (it has {len(row)} field(s)). Name the "
            "right fields with --text-column / --label-column."
        )
    value = row[column]
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DataError(
            f"{path}: {where} has a {type(value).__name__} as its {column!r}, not a string. "
            "Write the value as a JSON string."
        )
    if not value.strip():
        raise DataError(f"{path}: {where} has an empty {column!r}. Remove the record or fill it in.")
    return value


def _checked_label(row: Mapping[str, Any], column: str, where: str, path: Path) -> str:
    label = _checked_value(row, column, where, path).strip()
    if "\n" in label or "\r" in label or any(ord(character) < 32 for character in label):
        raise DataError(
            f"{path}: {where} has a line break or control character in its {column!r}, which "
            "would change the structure of every prompt. Write each label on one line."
        )
    return label


def _read_jsonl(path: Path, text_column: str, label_column: str) -> list[Example]:
    records = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(
                    f"{path}: line {number} is not valid JSON ({error.msg} at column {error.colno})."
                ) from None
            if not isinstance(row, dict):
                raise DataError(f"{path}: line {number} is not a JSON object.")
            where = f"line {number}"
            records.append(
                Example(
                    _checked_value(row, text_column, where, path),
                    _checked_label(row, label_column, where, path),
                )
            )
    return records


def _read_csv(path: Path, text_column: str, label_column: str) -> list[Example]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        for column in (text_column, label_column):
            if column not in columns:
                # The header is not quoted: in a file without one, it is a record.
                raise DataError(
                    f"{path}: the first line has no {column!r} column among its {len(columns)} "
                    "field(s). The first line must be a header naming the columns; name the "
                    "right ones with --text-column / --label-column."
                )
        records = []
        for row in reader:
            # The header is line 1; DictReader's line_num counts physical lines read so far.
            where = f"line {reader.line_num}"
            records.append(
                Example(
                    _checked_value(row, text_column, where, path),
                    _checked_label(row, label_column, where, path),
                )
            )
    return records


def _read_llamaindex(path: Path) -> list[Example]:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error.msg} at line {error.lineno}).") from None
    examples = document.get("examples") if isinstance(document, dict) else None
    if not isinstance(examples, list):
        raise DataError(
            f"{path}: expected a LlamaIndex LabelledSimpleDataset, an object with an "
            "'examples' list; use .jsonl or .csv for other layouts."
        )
    records = []
    for position, row in enumerate(examples, start=1):
        if not isinstance(row, dict):
            raise DataError(f"{path}: example {position} is not a JSON object.")
        where = f"example {position}"
        records.append(
            Example(
                _checked_value(row, "text", where, path),
                _checked_label(row, "reference_label", where, path),
            )
        )
    return records


def load_records(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
) -> list[Example]:
    """Read labelled records from a JSONL, CSV or LlamaIndex JSON file.

    Parameters
    ----------
    path
        The data file.
    format
        One of :data:`FORMATS`; by default it follows the suffix.
    text_column, label_column
        Field names for JSONL and CSV. LlamaIndex JSON always uses ``text`` and
        ``reference_label``. Labels are stripped of surrounding whitespace; texts
        are returned exactly as stored.

    Raises
    ------
    DataError
        The file is missing or empty, a column is missing, or a text or label is empty.
    """
    path = Path(path)
    format = format or detect_format(path)
    if format not in FORMATS:
        raise DataError(f"format={format!r} is invalid: use one of {', '.join(FORMATS)}.")
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} not found: check the path passed to --data.")
    if path.stat().st_size == 0:
        raise DataError(f"data file {str(path)!r} is empty: it needs labelled records.")
    try:
        if format == "jsonl":
            records = _read_jsonl(path, text_column, label_column)
        elif format == "csv":
            records = _read_csv(path, text_column, label_column)
        else:
            records = _read_llamaindex(path)
    except UnicodeDecodeError as error:
        raise DataError(
            f"data file {str(path)!r} is not UTF-8 text (byte {error.start} cannot be decoded): "
            "save it as UTF-8."
        ) from None
    except csv.Error as error:
        raise DataError(f"data file {str(path)!r} is not valid CSV ({error}).") from None
    if not records:
        raise DataError(f"data file {str(path)!r} contains no records: it needs labelled records.")
    return records


def load_demo() -> list[Example]:
    """Read the bundled, fictional patient-message dataset (see its data card)."""
    resource = resources.files("dpsynth") / "datasets" / DEMO_DATASET
    with resources.as_file(resource) as path:
        return load_records(path, format="jsonl")


def group_by_label(records: Iterable[Example]) -> dict[str, list[str]]:
    """Return each label's texts in record order, labels sorted."""
    pools: dict[str, list[str]] = {}
    for record in records:
        pools.setdefault(record.label, []).append(record.text)
    return {label: pools[label] for label in sorted(pools)}


def label_counts(records: Iterable[Example]) -> dict[str, int]:
    """Return the number of records of each label, labels sorted."""
    counts = Counter(record.label for record in records)
    return {label: counts[label] for label in sorted(counts)}


def _serialise(records: Sequence[Example], format: str, text_column: str, label_column: str) -> str:
    if format == "jsonl":
        lines = (
            json.dumps({text_column: r.text, label_column: r.label}, ensure_ascii=False) for r in records
        )
        return "".join(line + "\n" for line in lines)
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[text_column, label_column], lineterminator="\n")
        writer.writeheader()
        writer.writerows({text_column: r.text, label_column: r.label} for r in records)
        return buffer.getvalue()
    examples = [
        {
            "query": None,
            "query_by": None,
            "reference_contexts": None,
            "reference_answer": None,
            "reference_answer_by": None,
            "text": r.text,
            "text_by": {"model_name": "dpsynth", "type": "ai"},
            "reference_label": r.label,
        }
        for r in records
    ]
    return json.dumps({"examples": examples}, ensure_ascii=False, indent=2) + "\n"


def write_text_atomically(path: str | os.PathLike[str], content: str) -> None:
    """Write ``content`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_records(
    records: Sequence[Example],
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
) -> None:
    """Write records as JSONL, CSV or LlamaIndex JSON, atomically."""
    format = format or detect_format(path)
    if format not in FORMATS:
        raise DataError(f"format={format!r} is invalid: use one of {', '.join(FORMATS)}.")
    write_text_atomically(path, _serialise(records, format, text_column, label_column))
