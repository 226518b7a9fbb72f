"""Tests that environment.yml names the dependencies that pyproject.toml declares."""

import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _requirement(text):
    """Split a requirement such as 'numpy>=1.24' into ('numpy', '>=1.24'), dropping markers."""
    text = text.split(";")[0].strip()
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", text)
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def _pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(_requirement(text) for text in requirements if "python_version" not in text)


def _environment_requirements():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            for item in entry["pip"]:
                if not item.startswith("-e"):
                    name, spec = _requirement(item)
                    names[name] = spec
        else:
            name, spec = _requirement(entry)
            names[name] = spec
    return names


def test_environment_matches_pyproject():
    environment = _environment_requirements()
    python = environment.pop("python")
    environment.pop("pip")
    assert environment == _pyproject_requirements()
    assert python == ">=3.10,<3.14"


def test_environment_installs_the_project():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict))
    assert '-e ".[test]"' in pip_section
