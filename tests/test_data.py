"""Tests of reading and writing labelled records."""

import json

import pytest

from dpsynth.data import DataError, Example, group_by_label, label_counts, load_demo, load_records, write_records

RECORDS = [Example("first, with a comma", "a"), Example('second "quoted"', "b"), Example("third", "a")]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".json"])
def test_write_then_read_roundtrip(tmp_path, suffix):
    path = tmp_path / f"records{suffix}"
    write_records(RECORDS, path)
    assert load_records(path) == RECORDS


def test_llamaindex_layout(tmp_path):
    path = tmp_path / "dataset.json"
    write_records(RECORDS, path)
    document = json.loads(path.read_text())
    assert document["examples"][0]["reference_label"] == "a"
    assert document["examples"][0]["text"] == "first, with a comma"


def test_custom_columns(tmp_path):
    path = tmp_path / "records.csv"
    path.write_text("body,category\nhello,x\n")
    assert load_records(path, text_column="body", label_column="category") == [Example("hello", "x")]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_records(tmp_path / "absent.jsonl")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match="is empty"):
        load_records(path)


def test_header_only_csv(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("text,label\n")
    with pytest.raises(DataError, match="contains no records"):
        load_records(path)


def test_missing_csv_column(tmp_path):
    path = tmp_path / "records.csv"
    path.write_text("body,label\nhello,x\n")
    with pytest.raises(DataError, match="no 'text' column.*--text-column"):
        load_records(path)


def test_missing_jsonl_column_names_line(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b"}\n')
    with pytest.raises(DataError, match="line 2 has no 'label' field"):
        load_records(path)


def test_empty_text_names_line_not_text(tmp_path):
    path = tmp_path / "records.csv"
    path.write_text("text,label\nsecret words,x\n  ,x\n")
    with pytest.raises(DataError, match="line 3 has an empty 'text'") as caught:
        load_records(path)
    assert "secret words" not in str(caught.value)


def test_invalid_json_line(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text('{"text": "a", "label": "x"}\nnot json\n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        load_records(path)


def test_unknown_suffix(tmp_path):
    with pytest.raises(DataError, match=r"suffix '\.txt'"):
        load_records(tmp_path / "records.txt")


def test_llamaindex_without_examples(tmp_path):
    path = tmp_path / "dataset.json"
    path.write_text('{"rows": []}')
    with pytest.raises(DataError, match="'examples' list"):
        load_records(path)


def test_write_leaves_no_temporary_files(tmp_path):
    write_records(RECORDS, tmp_path / "out.jsonl")
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_grouping_and_counts():
    assert group_by_label(RECORDS) == {"a": ["first, with a comma", "third"], "b": ['second "quoted"']}
    assert label_counts(RECORDS) == {"a": 2, "b": 1}


def test_demo_dataset_loads():
    records = load_demo()
    counts = label_counts(records)
    assert len(counts) >= 5
    assert min(counts.values()) >= 40


def test_label_with_line_break_rejected(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps({"text": "a", "label": "flu\nMessage: injected"}) + "\n")
    with pytest.raises(DataError, match="line 1 has a line break"):
        load_records(path)


@pytest.mark.parametrize("value", [12345, {"a": "b"}, ["asthma"], True])
def test_non_string_value_rejected(tmp_path, value):
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps({"text": value, "label": "x"}) + "\n")
    with pytest.raises(DataError, match="line 1 has a .* as its 'text', not a string"):
        load_records(path)


def test_headerless_csv_does_not_quote_first_record(tmp_path):
    path = tmp_path / "records.csv"
    path.write_text("my private words,flu\nmore words,flu\n")
    with pytest.raises(DataError, match="first line has no 'text' column among its 2 field") as caught:
        load_records(path)
    assert "private" not in str(caught.value)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_byte_order_mark_is_accepted(tmp_path, suffix):
    path = tmp_path / f"records{suffix}"
    write_records(RECORDS, path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_records(path) == RECORDS


def test_non_utf8_file_names_file(tmp_path):
    path = tmp_path / "records.csv"
    path.write_bytes("text,label\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(DataError, match="is not UTF-8 text .* save it as UTF-8"):
        load_records(path)


def test_long_csv_field(tmp_path):
    long_text = "word " * 40_000
    path = tmp_path / "records.csv"
    write_records([Example(long_text, "x")], path)
    assert load_records(path)[0].text == long_text
