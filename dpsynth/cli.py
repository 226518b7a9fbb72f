"""The ``dpsynth`` command: generate a dataset, compute or calibrate epsilon, serve the mock model.

Exit status: 0 on success, 2 for invalid input (nothing is written), 1 when a run
fails on the way (a model or endpoint error), with the checkpoint kept for
``--resume``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .arguments import HelpFormatter, nonnegative_int, open_unit, positive_float, positive_int, sample_rate

__all__ = ["build_parser", "main", "parse_sizes"]

logger = logging.getLogger("dpsynth")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a process killed by it


class UsageError(ValueError):
    """Invalid command-line input; reported with exit status 2."""












def parse_sizes(text: str) -> int | dict[str, int]:
    """Parse ``--sizes``: ``"3"`` for every label, or ``"flu=2,asthma=5"``."""
    text = text.strip()
    if "=" not in text:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is invalid: give a whole number or label=count pairs such as 'flu=2,asthma=5'"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{text!r} is invalid: give 1 or more examples per label")
        return value
    sizes: dict[str, int] = {}
    for item in text.split(","):
        label, separator, count = item.partition("=")
        label = label.strip()
        try:
            value = int(count)
        except ValueError:
            value = -1
        if not separator or not label or value < 0:
            raise argparse.ArgumentTypeError(
                f"{item!r} in --sizes is invalid: write label=count with a whole count, such as 'flu=2'"
            )
        if label in sizes:
            raise argparse.ArgumentTypeError(f"label {label!r} appears twice in --sizes: give each label once")
        sizes[label] = value
    return sizes


def _add_accounting_inputs(parser: argparse.ArgumentParser, with_sigma: bool) -> None:
    parser.add_argument(
        "--mechanism", choices=("gaussian", "exponential"), default="gaussian",
        help="noisy argmax with Gaussian noise, or the exponential mechanism (default: %(default)s)",
    )
    if with_sigma:
        parser.add_argument(
            "--sigma", "--epsilon-per-token", dest="sigma", type=positive_float, required=True,
            help="Gaussian: noise multiplier (unitless). Exponential: per-token epsilon eps0; "
            "--epsilon-per-token is the same option under a clearer name",
        )
    parser.add_argument(
        "--sample-rate", type=sample_rate, required=True,
        help="Poisson sampling probability q per noisy selection, usually num_splits x shots / records of the label",
    )
    parser.add_argument(
        "--compositions", type=nonnegative_int, required=True,
        help="number of noisy selections (tokens selected) to compose",
    )
    parser.add_argument("--delta", type=open_unit, required=True, help="target delta, in (0, 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _add_generate_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate a differentially private synthetic dataset",
        description="Generate differentially private synthetic labelled texts and report their epsilon.",
        formatter_class=HelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="private labelled records: .jsonl, .csv or LlamaIndex .json")
    source.add_argument("--demo", action="store_true", help="use the bundled, fictional patient-message dataset")
    parser.add_argument("--format", choices=("jsonl", "csv", "llamaindex"), help="data format (default: from the suffix)")
    parser.add_argument("--text-column", default="text", help="text field of JSONL or CSV records")
    parser.add_argument("--label-column", default="label", help="label field of JSONL or CSV records")
    parser.add_argument(
        "--model", default="mock",
        help="'mock' (the offline in-context model), 'openai:MODEL' (completions) or 'openai-chat:MODEL'",
    )
    parser.add_argument("--base-url", help="base URL of an OpenAI-compatible server, such as http://127.0.0.1:8000/v1")
    parser.add_argument(
        "--api-key-env", default="OPENAI_API_KEY",
        help="name of the environment variable that contains the API key (the key itself is never an option)",
    )
    parser.add_argument("--timeout", type=positive_float, default=60.0, help="timeout of one HTTP request, in seconds")
    parser.add_argument(
        "--max-retries", type=nonnegative_int, default=2,
        help="retries of a failed HTTP request (408, 409, 429, 5xx, connection errors) with backoff",
    )
    parser.add_argument("--sizes", type=parse_sizes, default=3, help="examples per label: N, or label=N,label=N")
    parser.add_argument("--t-max", type=positive_int, default=20, help="maximum tokens per example")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument(
        "--sigma", "--epsilon-per-token", dest="sigma", type=positive_float,
        help="Gaussian: noise multiplier; exponential: per-token epsilon (default: 2.0 unless --epsilon is given)",
    )
    noise.add_argument(
        "--epsilon", type=positive_float,
        help="target epsilon of the dataset: calibrate sigma so that a run with every example at t_max meets it",
    )
    parser.add_argument("--delta", type=open_unit, help="delta (default: well below 1/records, see docs)")
    parser.add_argument("--num-splits", type=positive_int, default=10, help="disjoint splits M per token")
    parser.add_argument("--shots", type=positive_int, default=1, help="private examples N per split")
    parser.add_argument("--top-k", type=positive_int, default=5, help="size of the public token universe")
    parser.add_argument("--mechanism", choices=("gaussian", "exponential"), default="gaussian", help="noisy selection")
    parser.add_argument("--sampling", choices=("poisson", "fixed_size"), default="poisson", help="sampling scheme")
    parser.add_argument(
        "--neighbouring", choices=("add_remove", "replace_one"), default="add_remove",
        help="the neighbouring relation that epsilon protects: add or remove one record, or replace one",
    )
    parser.add_argument(
        "--seed", type=nonnegative_int,
        help="seed of the run, 0 or more; keep it secret, because it determines the noise (default: random)",
    )
    parser.add_argument("--concurrency", type=positive_int, default=16, help="maximum examples generated at once")
    parser.add_argument(
        "--max-epsilon", type=positive_float,
        help="reject a run whose worst case (every example reaching t_max) has an epsilon upper bound above "
        "this at the run's delta, and cap each label's noisy selections to it during the run",
    )
    parser.add_argument(
        "--on-heading", choices=("reject", "neutralise"), default="reject",
        help="what to do with a private text that has a line starting with a prompt heading",
    )
    parser.add_argument("--out", type=Path, default=Path("synthetic.jsonl"), help="output file: .jsonl, .csv or .json")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint and privacy ledger (default: OUT.checkpoint.jsonl)")
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true", help="continue the run recorded in the checkpoint")
    resume.add_argument("--force", action="store_true", help="overwrite an existing output and checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=_run_generate)


def build_parser() -> argparse.ArgumentParser:
    """Build the ``dpsynth`` argument parser with all its subcommands."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="dpsynth",
        description="Differentially private synthetic labelled text from an LLM's next-token logprobs.",
    )
    parser.add_argument("--version", action="version", version=f"dpsynth {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_generate_parser(subparsers)

    epsilon_parser = subparsers.add_parser(
        "epsilon", help="compute epsilon for a mechanism, sample rate and number of compositions",
        description="Compute epsilon, with its lower and upper bounds, of a number of Poisson-subsampled "
        "noisy selections at a given delta.",
        formatter_class=HelpFormatter,
    )
    _add_accounting_inputs(epsilon_parser, with_sigma=True)
    epsilon_parser.set_defaults(handler=_run_epsilon)

    calibrate_parser = subparsers.add_parser(
        "calibrate", help="find the smallest noise that meets a target epsilon",
        description="Find the smallest noise (sigma, or the largest per-token epsilon of the exponential "
        "mechanism) whose epsilon upper bound meets a target for a planned number of noisy selections.",
        formatter_class=HelpFormatter,
    )
    calibrate_parser.add_argument("--epsilon", type=positive_float, required=True, help="target epsilon")
    _add_accounting_inputs(calibrate_parser, with_sigma=False)
    calibrate_parser.set_defaults(handler=_run_calibrate)

    report_parser = subparsers.add_parser(
        "report", help="rebuild the privacy report of a run from its checkpoint",
        description="Account the noisy selections recorded in a checkpoint and print the privacy report.",
        formatter_class=HelpFormatter,
    )
    report_parser.add_argument("checkpoint", type=Path, help="the run's checkpoint, OUT.checkpoint.jsonl")
    report_parser.add_argument("--json", action="store_true", help="print the JSON report instead of Markdown")
    report_parser.add_argument("--endpoint", help="base URL of the model's server, to name in the report")
    report_parser.set_defaults(handler=_run_report)

    from .audit import add_audit_parser
    from .server import add_serve_mock_parser

    add_serve_mock_parser(subparsers)
    add_audit_parser(subparsers)
    return parser


def _run_epsilon(args: argparse.Namespace) -> int:
    from .accounting import epsilon

    bounds = epsilon(args.mechanism, args.sigma, args.sample_rate, args.compositions, args.delta)
    if args.json:
        print(json.dumps({"epsilon": bounds.estimate, "epsilon_lower": bounds.lower, "epsilon_upper": bounds.upper}))
    else:
        print(f"epsilon = {bounds.estimate:.4f} (bounds {bounds.lower:.4f} to {bounds.upper:.4f}) at delta = {args.delta:g}")
    return EXIT_OK


def _run_calibrate(args: argparse.Namespace) -> int:
    from .accounting import calibrate

    result = calibrate(args.mechanism, args.epsilon, args.sample_rate, args.compositions, args.delta)
    if args.json:
        print(json.dumps({"sigma": result.noise, "epsilon": result.epsilon.estimate}))
    else:
        name = "sigma" if args.mechanism == "gaussian" else "epsilon per token"
        print(
            f"{name} = {result.noise:.6g} gives epsilon = {result.epsilon.estimate:.4f} "
            f"(upper bound {result.epsilon.upper:.4f}) at delta = {args.delta:g}"
        )
    return EXIT_OK


def _run_report(args: argparse.Namespace) -> int:
    from .report import report_from_checkpoint, render_markdown

    report = report_from_checkpoint(args.checkpoint, endpoint=args.endpoint)
    print(json.dumps(report, indent=2) if args.json else render_markdown(report), end="" if not args.json else "\n")
    return EXIT_OK


def _load_records(args: argparse.Namespace) -> list[Any]:
    from .data import load_demo, load_records

    if args.demo:
        return load_demo()
    return load_records(args.data, format=args.format, text_column=args.text_column, label_column=args.label_column)


def _check_outputs(args: argparse.Namespace, checkpoint: Path) -> str:
    from .data import detect_format

    from .report import report_paths

    out_format = detect_format(args.out)
    reserved = {args.out.resolve(): "--out", **{path.resolve(): "the report" for path in report_paths(args.out)}}
    if checkpoint.resolve() in reserved:
        raise UsageError(
            f"checkpoint {str(checkpoint)!r} is the same file as {reserved[checkpoint.resolve()]}, which "
            "would overwrite the record of spent privacy budget: choose another --checkpoint."
        )
    if checkpoint.is_dir():
        raise UsageError(f"checkpoint {str(checkpoint)!r} is a directory: give a file path to --checkpoint.")
    if args.resume and not checkpoint.exists():
        raise UsageError(
            f"nothing to resume: checkpoint {str(checkpoint)!r} not found. Leave out --resume to start "
            "a new run, or give the run's checkpoint with --checkpoint."
        )
    if args.force:
        return out_format
    if args.out.exists() and not args.resume:
        raise UsageError(
            f"output {str(args.out)!r} already exists: pass --resume to finish its run, --force to "
            "overwrite it, or choose another --out."
        )
    if checkpoint.exists() and not args.resume:
        raise UsageError(
            f"checkpoint {str(checkpoint)!r} already exists from an earlier run: pass --resume to "
            "continue it or --force to start over."
        )
    return out_format


def _run_generate(args: argparse.Namespace) -> int:
    from .accounting import PrivacyAssumptions
    from .budget import plan_run
    from .data import label_counts, write_records
    from .generation import GenerationConfig, agenerate, run_sync
    from .report import write_report

    checkpoint = args.checkpoint or args.out.with_name(args.out.name + ".checkpoint.jsonl")
    out_format = _check_outputs(args, checkpoint)
    records = _load_records(args)
    model = _make_model(args)
    config = GenerationConfig(
        t_max=args.t_max,
        sigma=args.sigma if args.sigma is not None else GenerationConfig.sigma,
        num_splits=args.num_splits,
        num_samples_per_split=args.shots,
        top_k=args.top_k,
        mechanism=args.mechanism,
        sampling=args.sampling,
    )
    assumptions = PrivacyAssumptions(neighbouring=args.neighbouring, sampling=args.sampling)
    plan = plan_run(
        label_counts(records), args.sizes, config,
        delta=args.delta, target_epsilon=args.epsilon, max_epsilon=args.max_epsilon, assumptions=assumptions,
    )
    if args.force:
        checkpoint.unlink(missing_ok=True)

    result = run_sync(
        lambda: agenerate(
            records, model, plan.sizes, plan.config,
            seed=args.seed, delta=plan.delta, concurrency=args.concurrency,
            checkpoint_path=checkpoint, resume=args.resume,
            max_compositions=plan.max_compositions, on_heading=args.on_heading,
            show_progress=not args.no_progress, assumptions=assumptions,
        )
    )
    write_records(result.examples, args.out, format=out_format)
    report_paths = write_report(result, args.out, endpoint=_redacted(args.base_url))
    _print_summary(result, args.out, report_paths)
    return EXIT_OK


def _redacted(url: str | None) -> str | None:
    from .backends import redact_url

    return redact_url(url)


def _make_model(args: argparse.Namespace) -> Any:
    if args.model == "mock" and args.base_url is None:
        from .incontext import InContextModel

        return InContextModel()
    from .backends import model_from_spec

    return model_from_spec(
        args.model, base_url=args.base_url, api_key_env=args.api_key_env, concurrency=args.concurrency,
        timeout=args.timeout, max_retries=args.max_retries,
    )


def _print_summary(result: Any, out: Path, report_paths: Sequence[Path]) -> None:
    privacy = result.privacy
    dataset = privacy.dataset
    print(f"Wrote {len(result.examples)} synthetic examples to {out}")
    config = result.config
    noise_name = "sigma" if config.mechanism == "gaussian" else "epsilon per token"
    print(
        f"Mechanism: {config.mechanism}, {noise_name} = {config.sigma:.4g}, "
        f"{config.num_splits} splits x {config.num_samples_per_split} shots, top-k {config.top_k}, t_max {config.t_max}"
    )
    worst = result.worst_case.dataset
    count = len(privacy.per_label)
    if privacy.assumptions.neighbouring.value == "add_remove":
        how = f"add/remove adjacency, the maximum over {count} label{'s' if count != 1 else ''}"
    else:
        how = "replace-one adjacency, two labels' costs combined"
    print(
        f"Privacy guarantee: epsilon = {worst.upper:.3f} at delta = {result.delta:.3g} ({how}), the upper "
        f"bound had every example reached t_max (estimate {worst.estimate:.3f})"
    )
    print(
        f"Noisy selections made: epsilon = {dataset.estimate:.3f} (bounds {dataset.lower:.3f} to "
        f"{dataset.upper:.3f}), if their number, which follows from the texts' lengths, is treated as public"
    )
    for label, account in privacy.per_label.items():
        print(
            f"  {label}: {account.compositions} noisy selections, q = {account.sample_rate:.4g}, "
            f"epsilon = {account.epsilon.estimate:.3f}"
        )
    for path in report_paths:
        print(f"Privacy report: {path}")


class _WarningPrinter:
    """Prints each warning once, as one plain line on stderr, when it is raised."""

    def __init__(self) -> None:
        self.shown: set[str] = set()

    def __call__(self, message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        from .accounting import PrivacyWarning

        text = str(message)
        if text in self.shown:
            return
        self.shown.add(text)
        kind = "privacy warning" if issubclass(category, PrivacyWarning) else "warning"
        print(f"dpsynth: {kind}: {text}", file=sys.stderr)


def _configure_logging(verbose: int) -> None:
    # Only dpsynth's own logger gets more verbose: the HTTP libraries log request
    # bodies, which contain private records, at DEBUG level.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("dpsynth").setLevel((logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dpsynth`` command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    from .checkpoint import CheckpointError
    from .data import DataError
    from .models import ModelError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _WarningPrinter()
            return args.handler(args)
    except (UsageError, DataError, CheckpointError, ValueError, TypeError) as error:
        print(f"dpsynth: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ModelError as error:
        print(f"dpsynth: error: {error}", file=sys.stderr)
        print("dpsynth: the checkpoint keeps every finished step; rerun with --resume to continue.", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader of stdout went away (for example `| head`), so print nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("dpsynth: interrupted; a generate run continues from its checkpoint with --resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
