"""Command-line plumbing shared by the ``dpsynth`` subcommands: the help formatter and value parsers.

Each parser turns an option's text into a number and raises
``argparse.ArgumentTypeError`` with the text and the valid range, which argparse
reports with the option's name and exit status 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = [
    "HelpFormatter",
    "nonnegative_float",
    "nonnegative_int",
    "open_unit",
    "port",
    "positive_float",
    "positive_int",
    "sample_rate",
    "unit_interval",
]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Append ``(default: X)`` to an option's help only where a default exists and the help does not state one.

    Required options, flags and options without a default get no suffix, so the
    help never shows ``(default: None)`` beside a default the text explains.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            action.default is None
            or action.default is argparse.SUPPRESS
            or action.required
            or isinstance(action.default, bool)
            or "default" in text
        ):
            return text
        return super()._get_help_string(action)


def _parser(kind: type, valid: Callable[[float], bool], expected: str, name: str) -> Callable[[str], float]:
    noun = "whole number" if kind is int else "number"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {noun}") from None
        if not valid(value):
            raise argparse.ArgumentTypeError(f"{text!r} is invalid: give {expected}")
        return value

    parse.__name__ = name
    return parse


positive_int = _parser(int, lambda v: v >= 1, "a whole number, 1 or more", "positive_int")
nonnegative_int = _parser(int, lambda v: v >= 0, "a whole number, 0 or more", "nonnegative_int")
positive_float = _parser(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number", "positive_float")
nonnegative_float = _parser(float, lambda v: math.isfinite(v) and v >= 0, "a finite number, 0 or more", "nonnegative_float")
open_unit = _parser(float, lambda v: 0 < v < 1, "a number strictly between 0 and 1", "open_unit")
sample_rate = _parser(float, lambda v: 0 < v <= 1, "a number in (0, 1]", "sample_rate")
unit_interval = _parser(float, lambda v: 0 <= v <= 1, "a probability from 0 to 1", "unit_interval")
port = _parser(int, lambda v: 0 <= v <= 65535, "a TCP port from 0 to 65535", "port")
