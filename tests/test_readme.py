"""Tests that the README's commands and example are the ones that work."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_quick_start_has_exactly_two_commands():
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", quick_start, flags=re.DOTALL)
    assert [command.strip() for command in commands] == [
        "python -m pip install . && dpsynth generate --demo --out synthetic.jsonl",
        'python -m pip install ".[test]" && python -m pytest',
    ]


def test_ci_runs_the_readme_commands():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    for command in re.findall(r"```bash\n(.*?)```", quick_start, flags=re.DOTALL):
        assert command.strip() in script


def test_python_example_runs(tmp_path):
    (example,) = _blocks("python")
    completed = subprocess.run(
        [sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 5
    assert re.fullmatch(r"epsilon [0-9.]+ \(bounds \[[0-9.]+, [0-9.]+\]\) at delta [0-9.e-]+", lines[-1])


def test_linked_documents_exist():
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
