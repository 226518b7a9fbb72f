"""The privacy report of a generated dataset: JSON for machines, Markdown for people.

A report contains what a reviewer needs to recompute the epsilon. That is the
mechanism's parameters, the per-label pool sizes and noisy selections (the
ledger), each label's sampling rate, the delta and the assumptions. It also
names the accountant with its bounds, every privacy warning, the model and
endpoint (never a key), and the package versions. It also shows what the LlamaIndex pack's
``sigma_to_eps`` would have reported for the same run, and why that differs.

A report contains no private text, no split distribution, no noise draw and no
seed: the seed determines the noise.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .data import write_text_atomically
from .mechanisms import is_stop_token

__all__ = [
    "REPORT_VERSION",
    "build_report",
    "render_markdown",
    "report_from_checkpoint",
    "report_paths",
    "write_report",
]

REPORT_VERSION = 1

_PACKAGES = ("dpsynth", "numpy", "scipy", "prv-accountant", "openai")


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _bounds(bounds: Any) -> dict[str, Any]:
    return {
        "lower": bounds.lower,
        "estimate": bounds.estimate,
        "upper": bounds.upper,
        "delta": bounds.delta,
        "method": bounds.method,
    }


def _llamaindex_pack_comparison(
    mechanism: str, noise: float, sizes: Mapping[str, int], t_max: int, n_records: int, delta: float
) -> dict[str, Any]:
    from .accounting import llamaindex_pack_sigma_to_eps

    size = sum(sizes.values())
    value = llamaindex_pack_sigma_to_eps(noise, mechanism, size, t_max, n_records)
    return {
        "epsilon": value,
        "sample_rate": size / n_records,
        "delta": 1.0 / n_records,
        "compositions": t_max,
        "differences": [
            f"q = size / n_total = {size}/{n_records}: the number of synthetic examples over all "
            "records, not the sampling rate of any step (dpsynth: M*N/n of the label's pool).",
            f"delta = 1/n_total = {1.0 / n_records:.3g}, which permits publishing one record outright "
            f"(this run: delta = {delta:.3g}, {delta * n_records:.3g} times 1/n).",
            f"{t_max} compositions for the whole run, one example's tokens (dpsynth: every noisy "
            "selection of the label, from the ledger).",
            "the estimate alone, without the accountant's error bounds, and no check against "
            "bounds that cannot be wrong.",
        ],
        "note": None if value is not None else (
            "the pack fails for this run: prv-accountant raises, needs a grid too large for memory, "
            "or the run has more than 1000 tokens per example"
        ),
    }


def build_report(
    *,
    privacy: Any,
    worst_case: Any,
    config: Mapping[str, Any],
    sizes: Mapping[str, int],
    model: str,
    endpoint: str | None = None,
    examples_written: int | None = None,
    dataset_path: str | None = None,
) -> dict[str, Any]:
    """Build the report as a JSON-ready dict from a privacy account and the run's parameters.

    Parameters
    ----------
    privacy
        The run's :class:`dpsynth.accounting.PrivacyAccount` of the noisy
        selections made.
    worst_case
        The account if every example had reached ``t_max``.
    config
        :meth:`dpsynth.generation.GenerationConfig.params` of the run.
    sizes
        Synthetic examples requested per label.
    model, endpoint
        The model's name and the base URL of its server, if any.
    """
    n_records = sum(account.pool_size for account in privacy.per_label.values())
    assumptions = privacy.assumptions
    return {
        "report_version": REPORT_VERSION,
        "dataset": {"path": dataset_path, "examples": examples_written, "sizes": dict(sizes)},
        "model": {"name": model, "endpoint": endpoint},
        "mechanism": {
            "name": str(privacy.mechanism.value),
            "noise": privacy.noise,
            "noise_meaning": (
                "noise multiplier sigma; each coordinate gets N(0, (sigma*sqrt(2)/M)^2)"
                if privacy.mechanism.value == "gaussian"
                else "per-token epsilon eps0 of the exponential mechanism"
            ),
            "t_max": config["t_max"],
            "num_splits": config["num_splits"],
            "num_samples_per_split": config["num_samples_per_split"],
            "top_k": config["top_k"],
            "sampling": config["sampling"],
        },
        "privacy": {
            "dataset_epsilon": _bounds(privacy.dataset),
            "dataset_epsilon_worst_case": _bounds(worst_case.dataset),
            "delta": privacy.delta,
            "per_label": {
                label: {
                    "pool_size": account.pool_size,
                    "sample_rate": account.sample_rate,
                    "noisy_selections": account.compositions,
                    "epsilon": _bounds(account.epsilon),
                }
                for label, account in privacy.per_label.items()
            },
            "assumptions": {
                "neighbouring": assumptions.neighbouring.value,
                "sampling": assumptions.sampling.value,
                "public_quantities": list(assumptions.public_quantities),
                "secret": [
                    "the private records",
                    "every split prompt and split distribution",
                    "the noise draws and the seed that determines them",
                ],
            },
            "warnings": list(privacy.warnings),
        },
        "llamaindex_pack_sigma_to_eps": _llamaindex_pack_comparison(
            privacy.mechanism.value, privacy.noise, sizes, config["t_max"], n_records, privacy.delta
        ),
        "versions": _versions(),
    }


_ADJACENCY = {"add_remove": "add/remove", "replace_one": "replace-one"}


def _cell(text: str) -> str:
    # A label is free text; a pipe or backslash in it would break the Markdown table.
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _neighbour(neighbouring: str) -> str:
    if neighbouring == "add_remove":
        return "without that record"
    return "with that record replaced by any other, possibly of another label"


def _combination(neighbouring: str) -> str:
    if neighbouring == "add_remove":
        return (
            "Under add/remove adjacency one record affects only its own label, so the dataset's "
            "epsilon is the maximum over labels."
        )
    return (
        "Under replace-one adjacency a record can move between labels and change two labels' "
        "generations. The dataset's epsilon is the larger of two cases: two labels' epsilons added, "
        "each at delta/2, and a replacement within one label, counted as a removal and an addition. "
        "The table gives each label's epsilon under add/remove adjacency at the full delta, the "
        "ingredient of both cases."
    )


def _factor(epsilon: float) -> str:
    return f"{math.exp(epsilon):.4g}" if epsilon < 700 else f"e^{epsilon:.4g}"


def _records(privacy: Mapping[str, Any]) -> int:
    return sum(row["pool_size"] for row in privacy["per_label"].values())


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def render_markdown(report: Mapping[str, Any]) -> str:
    """Render a report dict as a Markdown page that explains each number."""
    privacy = report["privacy"]
    mechanism = report["mechanism"]
    dataset = privacy["dataset_epsilon"]
    worst = privacy["dataset_epsilon_worst_case"]
    assumptions = privacy["assumptions"]
    lines = [
        "# Privacy report",
        "",
        f"The synthetic dataset is ({worst['upper']:.4g}, {privacy['delta']:.3g})-differentially private "
        f"under {_ADJACENCY[assumptions['neighbouring']]} adjacency, whatever the length of its texts: "
        f"that is the accountant's upper bound for the worst case, every example running to t_max "
        f"(estimate {worst['estimate']:.4g}, within [{worst['lower']:.4g}, {worst['upper']:.4g}], "
        f"computed with `{worst['method']}`).",
        "",
        f"The noisy selections actually made give epsilon = {dataset['estimate']:.4g}, within "
        f"[{dataset['lower']:.4g}, {dataset['upper']:.4g}]. Their number follows from where the released "
        "texts stop, so this smaller figure holds only if that number is treated as public, which the "
        "assumptions below state. Stopping a composition at a point chosen from its own outputs can "
        "cost more than the count suggests, so rely on the worst case when in doubt.",
        "",
        "## What this epsilon means",
        "",
        "Take any one private record, and compare the run on the real dataset with the same run on "
        f"the dataset {_neighbour(assumptions['neighbouring'])}. For every set of possible synthetic datasets, the "
        f"probability of producing one of them changes by at most a factor e^epsilon = "
        f"{_factor(worst['upper'])} in the worst case, except for an additional probability of at most "
        f"delta = {privacy['delta']:.3g}. The private data contain {_records(privacy)} records, so "
        f"delta is {privacy['delta'] * _records(privacy):.3g} times 1/n: a mechanism that published "
        "one whole record with probability delta would still meet the guarantee, which is why delta "
        "must stay well below 1/n.",
        "",
        "## How the data were generated",
        "",
        f"- Model: `{report['model']['name']}`" + (f" at `{report['model']['endpoint']}`" if report["model"]["endpoint"] else ""),
        f"- Mechanism: {mechanism['name']}, noise {mechanism['noise']:.6g} ({mechanism['noise_meaning']})",
        f"- Splits M = {mechanism['num_splits']}, shots per split N = {mechanism['num_samples_per_split']}, "
        f"token universe top-k = {mechanism['top_k']}, t_max = {mechanism['t_max']}",
        f"- Sampling: {mechanism['sampling']} (a fresh sample at every token)",
        "",
        "## Epsilon per label",
        "",
        "Each label's records sit in their own pool, and each noisy selection for a label is one "
        "composition of a Poisson-subsampled mechanism with rate q = M*N/n. "
        + _combination(assumptions["neighbouring"]),
        "",
        "| label | pool size n | q = M*N/n | noisy selections | epsilon (estimate) | bounds |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in privacy["per_label"].items():
        bounds = row["epsilon"]
        lines.append(
            f"| {_cell(label)} | {row['pool_size']} | {row['sample_rate']:.4g} | {row['noisy_selections']} | "
            f"{bounds['estimate']:.4g} | [{bounds['lower']:.4g}, {bounds['upper']:.4g}] |"
        )
    lines += [
        "",
        "## Assumptions",
        "",
        f"- Neighbouring relation: {assumptions['neighbouring']}",
        f"- Sampling scheme: {assumptions['sampling']}",
        "- Treated as public (not protected): " + "; ".join(assumptions["public_quantities"]),
        "- Kept secret: " + "; ".join(assumptions["secret"]),
        f"- delta = {privacy['delta']:.3g}",
        "",
        "## Warnings",
        "",
    ]
    lines += [f"- {warning}" for warning in privacy["warnings"]] or ["None."]
    seed = report["llamaindex_pack_sigma_to_eps"]
    lines += [
        "",
        "## What the LlamaIndex pack would have reported",
        "",
        f"`DiffPrivateSimpleDatasetPack.sigma_to_eps` for the same run: epsilon = {_number(seed['epsilon'])} "
        f"(q = {seed['sample_rate']:.4g}, delta = {seed['delta']:.3g}, {seed['compositions']} compositions)."
        + (f" Note: {seed['note']}." if seed["note"] else "")
        + (
            f" That is {worst['estimate'] / seed['epsilon']:.3g} times smaller than dpsynth's worst-case "
            "estimate: the pack understates this run's privacy cost."
            if seed["epsilon"] and seed["epsilon"] < worst["estimate"]
            else ""
        ),
        "It differs because it uses:",
        "",
    ]
    lines += [f"- {difference}" for difference in seed["differences"]]
    lines += ["", "## Versions", ""]
    lines += [f"- {name}: {version}" for name, version in report["versions"].items()]
    return "\n".join(lines) + "\n"


def report_from_checkpoint(path: str | os.PathLike[str], *, endpoint: str | None = None) -> dict[str, Any]:
    """Build the report of the run recorded in a checkpoint, from its parameters and ledger.

    The checkpoint's token lines count the noisy selections per label, so the
    report accounts what was spent, also for a run that did not finish.
    """
    from .accounting import PrivacyAssumptions, account_run
    from .checkpoint import CheckpointError, read_checkpoint

    state = read_checkpoint(path)
    try:
        params = state.params
        config = params["config"]
        sizes = {label: size for label, size in params["sizes"].items() if size}
        assumptions = PrivacyAssumptions(
            neighbouring=params.get("neighbouring", "add_remove"), sampling=config["sampling"]
        )
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has invalid run parameters ({error}). The file was changed by "
            "something other than dpsynth; restore it or start a new run."
        ) from None
    spent = state.selections()
    unknown = sorted(set(spent) - set(sizes))
    if unknown:
        raise CheckpointError(
            f"checkpoint {str(path)!r} records selections for label(s) {unknown} that its run did not "
            "request; it was changed by something other than dpsynth."
        )

    def account(compositions: Mapping[str, int]) -> Any:
        return account_run(
            config["mechanism"],
            config["sigma"],
            pool_sizes={label: params["pool_sizes"][label] for label in sizes},
            compositions=compositions,
            num_splits=config["num_splits"],
            shots=config["num_samples_per_split"],
            delta=params["delta"],
            assumptions=assumptions,
        )

    privacy = account({label: spent.get(label, 0) for label in sizes})
    worst_case = account({label: size * config["t_max"] for label, size in sizes.items()})
    finished = sum(
        1
        for tokens in state.tokens.values()
        if tokens and (len(tokens) >= config["t_max"] or is_stop_token(tokens[-1]))
    )
    return build_report(
        privacy=privacy, worst_case=worst_case, config=config, sizes=sizes, model=params["model"], endpoint=endpoint,
        examples_written=finished,
    )


def report_paths(out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Return the JSON and Markdown report paths written beside the dataset ``out``."""
    out = Path(out)
    return out.with_name(out.name + ".privacy.json"), out.with_name(out.name + ".privacy.md")


def write_report(result: Any, out: str | os.PathLike[str], *, endpoint: str | None = None) -> Sequence[Path]:
    """Write the JSON and Markdown reports of a :class:`dpsynth.generation.GenerationResult` beside ``out``."""
    report = build_report(
        privacy=result.privacy,
        worst_case=result.worst_case,
        config=result.config.params(),
        sizes=result.sizes,
        model=result.model,
        endpoint=endpoint,
        examples_written=len(result.examples),
        dataset_path=Path(out).name,
    )
    json_path, markdown_path = report_paths(out)
    write_text_atomically(json_path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    write_text_atomically(markdown_path, render_markdown(report))
    return json_path, markdown_path
