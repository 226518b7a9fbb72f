"""Tests of the privacy report: contents, consistency with the ledger, no private data."""

import json

import pytest

from dpsynth.cli import main
from dpsynth.data import load_demo
from dpsynth.report import report_from_checkpoint

SEED = 424242


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("run")
    out = directory / "synthetic.jsonl"
    args = ["generate", "--demo", "--out", str(out), "--sizes", "2", "--t-max", "10", "--seed", str(SEED), "--no-progress"]
    assert main(args) == 0
    return out


def _texts(path):
    return path.read_text(encoding="utf-8")


def test_report_has_every_section(run):
    report = json.loads(_texts(run.with_name(run.name + ".privacy.json")))
    privacy = report["privacy"]
    assert privacy["dataset_epsilon"]["lower"] <= privacy["dataset_epsilon"]["estimate"] <= privacy["dataset_epsilon"]["upper"]
    assert privacy["dataset_epsilon"]["estimate"] == max(
        row["epsilon"]["estimate"] for row in privacy["per_label"].values()
    )
    assert privacy["dataset_epsilon_worst_case"]["estimate"] >= privacy["dataset_epsilon"]["estimate"]
    assert privacy["assumptions"]["neighbouring"] == "add_remove"
    assert privacy["assumptions"]["sampling"] == "poisson"
    assert report["model"] == {"name": "mock", "endpoint": None}
    assert report["versions"]["dpsynth"]
    assert len(report["llamaindex_pack_sigma_to_eps"]["differences"]) == 4


def test_report_sample_rates_follow_pools(run):
    report = json.loads(_texts(run.with_name(run.name + ".privacy.json")))
    mechanism = report["mechanism"]
    for row in report["privacy"]["per_label"].values():
        expected = mechanism["num_splits"] * mechanism["num_samples_per_split"] / row["pool_size"]
        assert row["sample_rate"] == pytest.approx(expected)


def test_report_contains_no_private_text_or_seed(run):
    for suffix in (".privacy.json", ".privacy.md"):
        text = _texts(run.with_name(run.name + suffix))
        for record in load_demo():
            assert record.text not in text
        assert str(SEED) not in text


def test_report_rebuilt_from_checkpoint_matches(run):
    written = json.loads(_texts(run.with_name(run.name + ".privacy.json")))
    rebuilt = report_from_checkpoint(run.with_name(run.name + ".checkpoint.jsonl"))
    assert rebuilt["privacy"] == written["privacy"]
    assert rebuilt["mechanism"] == written["mechanism"]


def test_report_command_prints_markdown(run, capsys):
    assert main(["report", str(run.with_name(run.name + ".checkpoint.jsonl"))]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Privacy report")
    assert "What the LlamaIndex pack would have reported" in printed


def test_example_report_in_docs_is_current(tmp_path):
    # docs/example-privacy-report.md shows a reader the report of the demo run with seed 0.
    from pathlib import Path

    out = tmp_path / "synthetic.jsonl"
    assert main(["generate", "--demo", "--seed", "0", "--out", str(out), "--no-progress"]) == 0
    generated = out.with_name(out.name + ".privacy.md").read_text(encoding="utf-8")
    stored = (Path(__file__).resolve().parent.parent / "docs" / "example-privacy-report.md").read_text(encoding="utf-8")
    assert stored.split("-->\n\n", 1)[1].split("## Versions")[0] == generated.split("## Versions")[0]


def test_report_rejects_tampered_parameters(run, tmp_path):
    import pytest as _pytest

    from dpsynth.checkpoint import CheckpointError

    lines = run.with_name(run.name + ".checkpoint.jsonl").read_text().splitlines(keepends=True)
    header = json.loads(lines[0])
    header["params"]["config"]["sampling"] = "zzz"
    tampered = tmp_path / "tampered.checkpoint.jsonl"
    tampered.write_text(json.dumps(header) + "\n" + "".join(lines[1:]))
    with _pytest.raises(CheckpointError, match="invalid run parameters"):
        report_from_checkpoint(tampered)
