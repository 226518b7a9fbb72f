"""Checks that the stored notebooks are fresh and clean where nbval does not look.

nbval (run by ``python -m pytest`` through the ``--nbval`` option in
pyproject.toml) re-executes every notebook and compares each cell's text
outputs with the stored ones. These tests cover what that comparison misses:
cells executed out of order or not at all, stored errors, warnings and stderr,
secrets and local paths in the stored file, and output checks switched off
outside widget cells. The last test edits one taught number in a copy of a
notebook and checks that nbval fails on it.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = [
    "01_prompt_construction.ipynb",
    "02_per_split_distributions.ipynb",
    "03_noise_calibration.ipynb",
    "04_epsilon_accounting.ipynb",
    "05_generate_a_dataset.ipynb",
    "06_privacy_audit.ipynb",
]
PATHS = [NOTEBOOK_DIR / name for name in EXPECTED]

# The format of a warning printed by the warnings module: "file.py:12: SomeWarning: message".
WARNING_LINE = re.compile(r"^\S+:\d+: \w*Warning: ", re.MULTILINE)
SECRET_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_-]{20,}"),
    re.compile(r"Bearer\s+[A-Za-z0-9._~+/-]{16,}"),
    re.compile(r"(?i)api[_-]?key\s*[=:]\s*[\"'][^\"']{8,}[\"']"),
]
LOCAL_PATHS = ["/home/", "/Users/", "/tmp/", "/root/", str(ROOT)]
NBVAL_MARKERS = ("NBVAL_IGNORE_OUTPUT", "NBVAL_CHECK_OUTPUT", "NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION")


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _source(cell):
    return "".join(cell["source"])


def _output_texts(cell):
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            yield "".join(output["text"])
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/"):
                yield "".join(value)


def test_notebook_set_and_order():
    assert sorted(path.name for path in NOTEBOOK_DIR.glob("*.ipynb")) == EXPECTED


@pytest.mark.parametrize("path", PATHS, ids=EXPECTED)
def test_cells_executed_in_order(path):
    counts = [cell["execution_count"] for cell in _code_cells(_load(path))]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts}; rerun it top to bottom with "
        "jupyter nbconvert --to notebook --execute --inplace"
    )


@pytest.mark.parametrize("path", PATHS, ids=EXPECTED)
def test_no_errors_or_stderr(path):
    for number, cell in enumerate(_code_cells(_load(path)), start=1):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{path.name}: code cell {number} stored an error"
            assert output.get("name") != "stderr", f"{path.name}: code cell {number} stored stderr output"


@pytest.mark.parametrize("path", PATHS, ids=EXPECTED)
def test_no_warnings_in_outputs(path):
    for number, cell in enumerate(_code_cells(_load(path)), start=1):
        for text in _output_texts(cell):
            assert not WARNING_LINE.search(text), f"{path.name}: code cell {number} stored a warning"


@pytest.mark.parametrize("path", PATHS, ids=EXPECTED)
def test_no_secrets_or_local_paths(path):
    text = path.read_text(encoding="utf-8")
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(text), f"{path.name} contains a string like an API key ({pattern.pattern})"
    for local in LOCAL_PATHS:
        assert local not in text, f"{path.name} contains the local path {local!r}"


@pytest.mark.parametrize("path", PATHS, ids=EXPECTED)
def test_runs_in_project_kernel(path):
    # nbval runs with --nbval-current-env; the stored kernel must not name someone's environment.
    assert _load(path)["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", PATHS, ids=EXPECTED)
def test_opens_with_goals_and_ends_with_exercise(path):
    notebook = _load(path)
    first = _source(notebook["cells"][0])
    assert first.startswith("# ")
    assert "After this notebook you will be able to" in first
    markdown = "\n".join(_source(cell) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    assert "## Summary" in markdown
    assert "## Exercise" in markdown
    assert "<details>" in markdown
    assert "</details>" in markdown


@pytest.mark.parametrize("path", PATHS, ids=EXPECTED)
def test_ignored_outputs_only_for_widgets(path):
    """An ignored cell shows a widget, and the code cell above calls its function with the defaults."""
    cells = _code_cells(_load(path))
    for number, cell in enumerate(cells, start=1):
        tags = [tag for tag in cell["metadata"].get("tags", []) if tag.startswith("nbval")]
        assert not tags, f"{path.name}: code cell {number} has nbval tags {tags}; use a comment marker"
        markers = [marker for marker in NBVAL_MARKERS if marker in _source(cell)]
        if not markers:
            continue
        assert markers == ["NBVAL_IGNORE_OUTPUT"], f"{path.name}: code cell {number} uses {markers}"
        match = re.search(r"widgets\.interact\(\s*(\w+),", _source(cell))
        assert match, f"{path.name}: code cell {number} ignores its output but shows no widget"
        above = _source(cells[number - 2]).strip()
        assert above.splitlines()[-1] == f"{match.group(1)}()", (
            f"{path.name}: code cell {number - 1} must render {match.group(1)}() at its defaults"
        )
        assert cells[number - 2]["outputs"], f"{path.name}: code cell {number - 1} has no stored output"


def test_changed_taught_number_fails_nbval(tmp_path):
    # Notebook 1 teaches the exact mean split size; change one digit of it in a copy.
    notebook = _load(NOTEBOOK_DIR / EXPECTED[0])
    cells = _code_cells(notebook)
    index, output = next(
        (index, output)
        for index, cell in enumerate(cells)
        for output in cell["outputs"]
        if output.get("name") == "stdout" and "records per split" in "".join(output["text"])
    )
    original = "".join(output["text"])

    def next_digit(match):
        return f"{match.group(1)}{(int(match.group(2)) + 1) % 10}% of splits empty"

    changed = re.sub(r"(\d+\.)(\d)% of splits empty", next_digit, original, count=1)
    assert changed != original
    output["text"] = changed
    copy = tmp_path / "changed.ipynb"
    copy.write_text(json.dumps(notebook), encoding="utf-8")

    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider", "-q", copy.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )
    assert completed.returncode == 1, completed.stdout[-3000:]
    # nbval numbers code cells from 0.
    assert re.findall(r"FAILED \S+::Cell (\d+)", completed.stdout) == [str(index)], completed.stdout[-3000:]
    assert f"1 failed, {len(cells) - 1} passed" in completed.stdout
