"""Prompt construction: the public zero-shot prompt and the private few-shot prompts.

Every prompt has the same layout, so that a language model continues the text of
a labelled example::

    {instruction}

    {label_heading}: {label}
    {text_heading}: {text}

    {label_heading}: {label}
    {text_heading}:{prefix}

The few-shot prompt of one split lists that split's private examples, one
block each, before the final block. The public prompt is the final block alone:
it contains the instruction, the requested label and the tokens generated so far,
which are all public, so the token universe taken from it reveals nothing about
the private data.

A generated text ends at a newline, so every text is one line in a prompt. A
private text with a line that starts with a heading would add a block of its own
and change the prompt the model reads. :func:`prepare_texts` detects it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "HeadingInTextError",
    "PromptBundle",
    "check_labels",
    "fold_text",
    "few_shot_prompt",
    "find_heading_line",
    "prepare_texts",
    "zero_shot_prompt",
]

_WHITESPACE = re.compile(r"\s+")


class HeadingInTextError(ValueError):
    """A record's text contains a line that starts with a prompt heading."""


@dataclass(frozen=True)
class PromptBundle:
    """The fixed wording of every prompt.

    Attributes
    ----------
    instruction
        The task statement that opens every prompt.
    label_heading
        The heading of the label line, written as ``"{label_heading}: {label}"``.
    text_heading
        The heading of the text line, written as ``"{text_heading}: {text}"``.
    """

    instruction: str = (
        "Write a short message that a patient sends to their doctor, "
        "describing their symptoms. The condition is given above each message."
    )
    label_heading: str = "Condition"
    text_heading: str = "Message"

    def __post_init__(self) -> None:
        for field in ("label_heading", "text_heading"):
            value = getattr(self, field)
            if not value or value != value.strip() or "\n" in value or ":" in value:
                raise ValueError(
                    f"{field}={value!r} is invalid: a heading must be a non-empty single "
                    "line without a colon or surrounding spaces, such as 'Label'."
                )
        if self.label_heading == self.text_heading:
            raise ValueError(
                f"label_heading and text_heading are both {self.label_heading!r}: "
                "choose two different headings so that the model can tell the lines apart."
            )
        if not self.instruction.strip():
            raise ValueError("instruction is empty: give the task statement that opens every prompt.")

    @property
    def headings(self) -> tuple[str, str]:
        """The heading prefixes as they open a line, such as ``("Label:", "Text:")``."""
        return (f"{self.label_heading}:", f"{self.text_heading}:")


def _example_block(bundle: PromptBundle, label: str, text: str) -> str:
    return f"{bundle.label_heading}: {label}\n{bundle.text_heading}: {text}\n\n"


def _final_block(bundle: PromptBundle, label: str, prefix: str) -> str:
    # The prefix starts with a space because BPE tokens carry their leading space.
    return f"{bundle.label_heading}: {label}\n{bundle.text_heading}:{prefix}"


def zero_shot_prompt(bundle: PromptBundle, label: str, prefix: str = "") -> str:
    """Build the public prompt for ``label``, continuing ``prefix``.

    It contains no private record, so its next-token distribution is public.
    """
    return f"{bundle.instruction}\n\n{_final_block(bundle, label, prefix)}"


def few_shot_prompt(
    bundle: PromptBundle,
    examples: Sequence[tuple[str, str]],
    label: str,
    prefix: str = "",
) -> str:
    """Build the private prompt of one split: its ``(label, text)`` examples, then ``label``.

    The texts must already be single lines, as :func:`prepare_texts` returns them.
    """
    blocks = "".join(_example_block(bundle, example_label, text) for example_label, text in examples)
    return f"{bundle.instruction}\n\n{blocks}{_final_block(bundle, label, prefix)}"


def check_labels(labels: Iterable[str]) -> None:
    """Raise ValueError, naming the record, for a label that is not one non-empty line.

    A label is written into every prompt's label line, so a line break in it would
    change the prompt's structure.
    """
    for number, label in enumerate(labels, start=1):
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"record {number}: its label is empty or not a string. Give every record a label.")
        if any(ord(character) < 32 for character in label):
            raise ValueError(
                f"record {number}: its label contains a line break or control character, which "
                "would change the structure of every prompt. Write each label on one line."
            )


def find_heading_line(text: str, bundle: PromptBundle) -> int | None:
    """Return the 1-based number of the first line of ``text`` that starts with a heading, or None."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith(bundle.headings):
            return number
    return None


def fold_text(text: str) -> str:
    """Fold every run of whitespace, newlines included, into one space and strip the ends."""
    return _WHITESPACE.sub(" ", text).strip()


def prepare_texts(
    texts: Iterable[str],
    bundle: PromptBundle,
    on_heading: str = "reject",
) -> list[str]:
    """Return the texts as single lines that cannot change a prompt's structure.

    Parameters
    ----------
    texts
        Private texts in dataset order; record numbers in messages count from 1.
    bundle
        The prompt wording whose headings are checked.
    on_heading
        ``"reject"`` raises :class:`HeadingInTextError` for a text with a line that
        starts with a heading. ``"neutralise"`` folds such a text into one line and
        warns with the record numbers.

    Raises
    ------
    HeadingInTextError
        A text has a heading line and ``on_heading`` is ``"reject"``. The message
        names the record and the line, never the text.
    ValueError
        A text is empty, or ``on_heading`` is unknown.
    """
    if on_heading not in ("reject", "neutralise"):
        raise ValueError(f"on_heading={on_heading!r} is invalid: use 'reject' or 'neutralise'.")
    prepared = []
    neutralised = []
    for number, text in enumerate(texts, start=1):
        line = find_heading_line(text, bundle)
        if line is not None and on_heading == "reject":
            raise HeadingInTextError(
                f"record {number}: line {line} of its text starts with a prompt heading "
                f"({' or '.join(map(repr, bundle.headings))}), which would add a block to "
                "every prompt that contains it. Remove the heading from the record, or "
                "pass on_heading='neutralise' (--on-heading neutralise) to fold the text "
                "into one line."
            )
        if line is not None:
            neutralised.append(number)
        folded = fold_text(text)
        if not folded:
            raise ValueError(
                f"record {number}: its text is empty. Remove the record or give it a text."
            )
        prepared.append(folded)
    if neutralised:
        shown = ", ".join(map(str, neutralised[:10]))
        more = f" and {len(neutralised) - 10} more" if len(neutralised) > 10 else ""
        warnings.warn(
            f"Folded {len(neutralised)} record(s) with a heading line into one line: "
            f"records {shown}{more}.",
            stacklevel=2,
        )
    return prepared
