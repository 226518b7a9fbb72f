"""The help formatter of the ``dpsynth`` command and its subcommands."""

from __future__ import annotations

import argparse

__all__ = ["HelpFormatter"]


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
