"""The ``dpsynth audit`` command: mechanism audit, text audit, canary insertion.

``dpsynth audit mechanism``
    Audit the noisy selection (or a broken variant, for teaching) and print the
    empirical epsilon lower bound beside the accountant's epsilon.
``dpsynth audit text``
    Compare a synthetic dataset with the private records: verbatim n-gram
    overlap and, given a canary file, canary exposure. Prints counts, indices
    and lengths, never text.
``dpsynth audit canaries``
    Insert random canaries into a private dataset before generation and write
    the canaries to a file for ``dpsynth audit text``.

Exit status: 0 on success (also when a violation is found, unless
``--fail-on-violation``), 1 for a violation with ``--fail-on-violation``.
Invalid input raises ValueError, which the ``dpsynth`` command reports with
exit status 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..arguments import nonnegative_int, open_unit, positive_float, positive_int, sample_rate
from .trials import VARIANT_DESCRIPTIONS, AuditSettings, Variant

__all__ = ["add_audit_parser", "read_canaries", "run_audit", "write_canaries"]


def _add_column_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-column", default="text", help="text field of JSONL or CSV records (default: %(default)s)")
    parser.add_argument("--label-column", default="label", help="label field of JSONL or CSV records (default: %(default)s)")


def _add_mechanism_parser(modes: Any) -> None:
    defaults = AuditSettings()
    parser = modes.add_parser(
        "mechanism",
        help="run the mechanism on neighbouring datasets and bound its epsilon from below",
        description="Run the noisy selection many times on two neighbouring datasets (with and without a "
        "canary record) under a worst-case model, and compare the empirical epsilon lower bound with the "
        "accountant's epsilon. The defaults are the settings at which the broken variants are caught.",
    )

    parser.add_argument("--mechanism", choices=("gaussian", "exponential"), default=defaults.mechanism,
                        help="the noisy selection to audit (default: %(default)s)")
    parser.add_argument("--sigma", "--epsilon-per-token", dest="noise", type=positive_float, default=defaults.noise,
                        help="Gaussian: noise multiplier sigma; exponential: per-token epsilon eps0 (default: %(default)s)")
    parser.add_argument("--sample-rate", type=sample_rate, default=defaults.sample_rate,
                        help="probability q that the canary joins a step's sample (default: %(default)s)")
    parser.add_argument("--compositions", "--steps", dest="compositions", type=positive_int,
                        default=defaults.compositions, help="noisy selections (token steps) per run (default: %(default)s)")
    parser.add_argument("--num-splits", type=positive_int, default=defaults.num_splits, help="splits M per step (default: %(default)s)")
    parser.add_argument("--universe-size", type=positive_int, default=defaults.universe_size,
                        help="tokens k in the universe, 2 or more (default: %(default)s)")

    parser.add_argument("--trials", type=positive_int, default=100_000,
                        help="runs per dataset for the estimate (default: %(default)s)")
    parser.add_argument("--threshold-trials", type=positive_int,
                        help="runs per dataset that choose the test's threshold (default: a quarter of --trials)")
    parser.add_argument("--confidence", type=open_unit, default=defaults.confidence,
                        help="confidence level of the lower bound (default: %(default)s)")
    parser.add_argument("--delta", type=open_unit, default=defaults.delta, help="delta of the claim (default: %(default)s)")

    parser.add_argument("--seed", type=nonnegative_int, help="seed of the runs, for a reproducible audit (default: random)")
    variants = "; ".join(f"{variant.value}: {text}" for variant, text in VARIANT_DESCRIPTIONS.items())
    parser.add_argument("--variant", choices=[variant.value for variant in Variant], default=Variant.CORRECT.value,
                        help=f"the mechanism to audit, correct by default ({variants})")
    parser.add_argument("--fail-on-violation", action="store_true",
                        help="exit with status 1 when the lower bound exceeds the claim")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=run_audit)


def _add_text_parser(modes: Any) -> None:
    parser = modes.add_parser(
        "text",
        help="compare a synthetic dataset with the private records (counts only, no text)",
        description="Report verbatim n-gram overlap between synthetic texts and private records and, "
        "given the canary file from 'dpsynth audit canaries', each canary's exposure. The report holds "
        "counts, record indices and lengths, never text.",
    )
    parser.add_argument("--synthetic", type=Path, required=True, help="the generated dataset: .jsonl, .csv or .json")
    parser.add_argument("--private", type=Path, required=True, help="the private records the dataset came from")
    _add_column_options(parser)
    parser.add_argument("--min-length", type=positive_int, default=8,
                        help="shortest shared run of tokens that counts as an overlap (default: %(default)s)")
    parser.add_argument("--canaries", type=Path, help="canary file written by 'dpsynth audit canaries'")
    parser.add_argument("--candidates", type=positive_int, default=1000,
                        help="random candidate secrets each canary is ranked against (default: %(default)s)")
    parser.add_argument("--seed", type=nonnegative_int, help="seed of the candidate secrets (default: random)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=run_audit)


def _add_canaries_parser(modes: Any) -> None:
    parser = modes.add_parser(
        "canaries",
        help="insert random canary records into a private dataset before generation",
        description="Copy a private dataset with canary records inserted at random positions, one or more "
        "per label, and write the canaries to a separate file for 'dpsynth audit text'.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="private labelled records: .jsonl, .csv or LlamaIndex .json")
    source.add_argument("--demo", action="store_true", help="use the bundled, fictional patient-message dataset")
    _add_column_options(parser)
    parser.add_argument("--per-label", type=positive_int, default=1, help="canaries inserted into each label (default: %(default)s)")
    parser.add_argument("--length", type=positive_int, default=6, help="secret digits per canary (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="the dataset with the canaries")
    parser.add_argument("--canaries-out", type=Path, required=True, help="the canary file (JSON Lines)")
    parser.add_argument("--seed", type=nonnegative_int, help="seed of the secrets and positions (default: random)")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    parser.set_defaults(handler=run_audit)


def add_audit_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``audit`` command and its modes to the ``dpsynth`` subparsers; return its parser.

    Every mode sets ``handler=run_audit``.
    """
    parser = subparsers.add_parser(
        "audit",
        help="test a privacy claim empirically: mechanism audit, text overlap, canaries",
        description="Empirical privacy audit. 'mechanism' bounds epsilon from below by running the mechanism; "
        "'text' checks a generated dataset against the private records; 'canaries' inserts canaries "
        "before generation.",
    )
    modes = parser.add_subparsers(dest="audit_mode", required=True, metavar="MODE")
    _add_mechanism_parser(modes)
    _add_text_parser(modes)
    _add_canaries_parser(modes)
    return parser


def run_audit(args: argparse.Namespace) -> int:
    """Run the ``dpsynth audit`` mode named by ``args.audit_mode``; return the exit status."""
    handlers = {"mechanism": _run_mechanism, "text": _run_text, "canaries": _run_canaries}
    return handlers[args.audit_mode](args)


def _run_mechanism(args: argparse.Namespace) -> int:
    from .experiment import audit_mechanism

    settings = AuditSettings(
        mechanism=args.mechanism,
        noise=args.noise,
        compositions=args.compositions,
        sample_rate=args.sample_rate,
        num_splits=args.num_splits,
        universe_size=args.universe_size,
        delta=args.delta,
        confidence=args.confidence,
    )
    result = audit_mechanism(
        settings, np.random.default_rng(args.seed),
        variant=args.variant, trials=args.trials, threshold_trials=args.threshold_trials,
    )
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(_format_mechanism(result))
    return 1 if args.fail_on_violation and result.violation else 0


def _format_mechanism(result: Any) -> str:
    s = result.settings
    noise = f"sigma {s.noise:g}" if s.mechanism == "gaussian" else f"eps0 {s.noise:g}"
    verdict = (
        "VIOLATION: the lower bound exceeds the claim, so the mechanism is less private than its accounting says"
        if result.violation
        else "no violation: the lower bound is at or below the claim"
    )
    lines = [
        f"Audit of the {result.variant.value} {s.mechanism} mechanism: {noise}, {s.compositions} compositions, "
        f"sample rate {s.sample_rate:g}, {s.num_splits} split(s), {s.universe_size} tokens",
        f"  runs per dataset: {result.trials} for the estimate, {result.threshold_trials} for the threshold "
        f"({result.noisy_selections} noisy selections in all)",
        f"  test: 'canary present' when a run selected the canary token at least {result.threshold} times",
        f"  false positives: {result.false_positives} of {result.trials} (upper bound {result.false_positive_upper:.4g}); "
        f"false negatives: {result.false_negatives} of {result.trials} (upper bound {result.false_negative_upper:.4g})",
        f"  epsilon lower bound at delta {s.delta:g}: {result.epsilon_lower:.4f} "
        f"({s.confidence:.0%} confidence, no assumption on the mechanism)",
        f"  Gaussian-shape estimate: mu >= {result.gaussian_mu_lower:.4f}, epsilon {result.gaussian_epsilon:.4f} "
        "(valid only if the privacy curve is Gaussian-shaped)",
        f"  claimed by the accountant: {result.claimed.upper:.4f} ({result.claimed.method})",
        f"  largest lower bound {result.trials} runs can give: {result.max_certifiable:.4f}",
        f"  {verdict}",
    ]
    return "\n".join(lines)


def _run_text(args: argparse.Namespace) -> int:
    from ..data import load_records
    from .text import canary_exposure, ngram_overlap

    columns = {"text_column": args.text_column, "label_column": args.label_column}
    synthetic = load_records(args.synthetic, **columns)
    private = load_records(args.private, **columns)
    overlap = ngram_overlap([r.text for r in synthetic], [r.text for r in private], args.min_length)
    exposure = None
    if args.canaries is not None:
        canaries = read_canaries(args.canaries)
        exposure = canary_exposure(synthetic, canaries, np.random.default_rng(args.seed), candidates=args.candidates)
    if args.json:
        print(json.dumps({"overlap": overlap.to_dict(), "exposure": exposure.to_dict() if exposure else None}))
        return 0
    print(
        f"Verbatim overlap (runs of {overlap.min_length} tokens or more, case-folded): "
        f"{len(overlap.matches)} of {overlap.synthetic_count} synthetic texts share a run with the "
        f"{overlap.private_count} private records; longest run {overlap.longest} tokens; "
        f"{len(overlap.exact_copies)} exact copies"
    )
    for match in overlap.matches:
        records = ", ".join(str(index) for index in match.record_indices[:10])
        more = f" and {len(match.record_indices) - 10} more" if len(match.record_indices) > 10 else ""
        print(f"  synthetic text {match.synthetic_index}: {match.length} tokens, private record(s) {records}{more}")
    if exposure is not None:
        print("Canary exposure (bits; about 1 when the synthetic data reveals nothing):")
        for item in exposure.canaries:
            print(
                f"  canary {item.canary_index} ({item.label}): {item.secret_copies} verbatim copies of the secret, "
                f"rank {item.rank:g} of {item.candidates + 1}, exposure {item.exposure:.2f} of {item.max_exposure:.2f}"
            )
    return 0


def write_canaries(path: str | Path, canaries: Any, positions: Any) -> None:
    """Write canaries as JSON Lines: label, prefix, secret, and position in the data."""
    from ..data import write_text_atomically

    lines = [
        json.dumps({"label": c.label, "prefix": c.prefix, "secret": list(c.secret), "position": int(p)})
        for c, p in zip(canaries, positions)
    ]
    write_text_atomically(path, "".join(line + "\n" for line in lines))


def read_canaries(path: str | Path) -> list[Any]:
    """Read a canary file written by :func:`write_canaries`."""
    from ..data import DataError
    from .text import Canary

    path = Path(path)
    if not path.is_file():
        raise DataError(f"canary file {str(path)!r} not found: write it with 'dpsynth audit canaries'.")
    canaries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            canaries.append(Canary(row["label"], row["prefix"], tuple(row["secret"])))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise DataError(
                f"{path}: line {number} is not a canary ({type(error).__name__}): each line needs "
                "'label', 'prefix' and 'secret'."
            ) from None
    if not canaries:
        raise DataError(f"canary file {str(path)!r} contains no canaries.")
    return canaries


def _same_file(first: Path, second: Path) -> bool:
    # resolve() follows symbolic links and ".."; samefile() also catches hard links.
    if first.resolve() == second.resolve():
        return True
    try:
        return first.samefile(second)
    except OSError:
        return False


def _run_canaries(args: argparse.Namespace) -> int:
    from ..data import label_counts, load_demo, load_records, write_records
    from .text import insert_canaries, make_canaries

    if _same_file(args.out, args.canaries_out):
        raise ValueError(
            f"--out and --canaries-out both name {str(args.out)!r}: the canary file would overwrite "
            "the dataset. Give them different paths."
        )
    for path in (args.out, args.canaries_out):
        if path.exists() and not args.force:
            raise ValueError(f"output {str(path)!r} already exists: pass --force to overwrite it, or choose another path.")
    if args.demo:
        records = load_demo()
    else:
        records = load_records(args.data, text_column=args.text_column, label_column=args.label_column)
    rng = np.random.default_rng(args.seed)
    labels = [label for label in label_counts(records) for _ in range(args.per_label)]
    canaries = make_canaries(labels, rng, length=args.length)
    with_canaries, positions = insert_canaries(records, canaries, rng)
    write_records(with_canaries, args.out, text_column=args.text_column, label_column=args.label_column)
    write_canaries(args.canaries_out, canaries, positions)
    print(
        f"Wrote {len(with_canaries)} records ({len(canaries)} canaries) to {args.out} and the canaries "
        f"to {args.canaries_out}; keep the canary file away from the generator."
    )
    return 0
