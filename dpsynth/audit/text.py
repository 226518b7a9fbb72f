"""Text audit of a generated dataset: verbatim overlap with the private records, canary exposure.

Both checks compare tokens, as :func:`dpsynth.incontext.tokenize` splits them
(words and punctuation), case-folded, so "verbatim" means equal up to case and
whitespace. Reports hold counts, record indices and lengths in tokens, never
text, so they can be shared where the private data cannot.

N-gram overlap
    For each synthetic text, the longest run of tokens it shares with any
    private record, if that run has at least ``min_length`` tokens, and the
    records that contain it. A differentially private generator can still
    emit a common phrase, so an overlap is a place to look, not a proof of a
    leak. The worrying case is a long run shared with one record only.

Canary exposure (Carlini et al. 2019, "The Secret Sharer")
    Canaries are records with a public prefix and a random secret of ``L``
    tokens, inserted into the private data before generation. After it, each
    canary's secret is ranked among random candidate secrets by its likelihood
    under the offline in-context model prompted with the synthetic texts of the
    canary's label, as a downstream few-shot prompt would use them. With the
    canary at rank ``r`` among ``m`` candidates plus itself, the exposure is
    ``log2(m + 1) - log2(r)`` bits: about 1 bit when the synthetic data says
    nothing about the secret, ``log2(m + 1)`` when the secret ranks first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import Example
from ..incontext import InContextModel, tokenize
from ..prompts import PromptBundle, few_shot_prompt, fold_text

__all__ = [
    "Canary",
    "CanaryExposure",
    "ExposureReport",
    "OverlapMatch",
    "OverlapReport",
    "canary_exposure",
    "insert_canaries",
    "make_canaries",
    "ngram_overlap",
]

DEFAULT_CANARY_PREFIX = "My patient reference number is"
"""The public prefix of generated canaries; the secret follows it."""

DIGITS = tuple(str(digit) for digit in range(10))
"""The default secret alphabet: digits, each a token of its own."""

# Probability given to a secret token that the model cannot emit; keeps scores finite.
_TOKEN_FLOOR = 1e-12


def _tokens(text: str) -> list[str]:
    return [token.casefold() for token in tokenize(text)]


@dataclass(frozen=True)
class OverlapMatch:
    """The longest verbatim token run that one synthetic text shares with the private records.

    Attributes
    ----------
    synthetic_index
        Position of the synthetic text in the synthetic dataset.
    length
        The run's length in tokens.
    record_indices
        Positions of the private records that contain the run.
    """

    synthetic_index: int
    length: int
    record_indices: tuple[int, ...]


@dataclass(frozen=True)
class OverlapReport:
    """Verbatim n-gram overlap between a synthetic dataset and the private records.

    Attributes
    ----------
    min_length
        The shortest run, in tokens, that counts as an overlap.
    synthetic_count, private_count
        Texts compared on each side.
    matches
        One entry per synthetic text that shares a run of ``min_length`` tokens
        or more, in synthetic order.
    exact_copies
        ``(synthetic_index, record_index)`` pairs where a synthetic text equals
        a private record, whatever its length.
    """

    min_length: int
    synthetic_count: int
    private_count: int
    matches: tuple[OverlapMatch, ...]
    exact_copies: tuple[tuple[int, int], ...]

    @property
    def longest(self) -> int:
        """The longest shared run in tokens, 0 when no run reaches ``min_length``."""
        return max((match.length for match in self.matches), default=0)

    @property
    def flagged_fraction(self) -> float:
        """The fraction of synthetic texts with an overlap."""
        return len(self.matches) / self.synthetic_count if self.synthetic_count else 0.0

    def length_histogram(self) -> dict[int, int]:
        """Return the number of synthetic texts per longest-run length, shortest first."""
        counts: dict[int, int] = defaultdict(int)
        for match in self.matches:
            counts[match.length] += 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON values: counts, indices and lengths only."""
        return {
            "min_length": self.min_length,
            "synthetic_count": self.synthetic_count,
            "private_count": self.private_count,
            "flagged": len(self.matches),
            "flagged_fraction": self.flagged_fraction,
            "longest": self.longest,
            "length_histogram": {str(length): count for length, count in self.length_histogram().items()},
            "matches": [
                {"synthetic_index": m.synthetic_index, "length": m.length, "record_indices": list(m.record_indices)}
                for m in self.matches
            ],
            "exact_copies": [list(pair) for pair in self.exact_copies],
        }


def _index_ngrams(records: Sequence[list[str]], length: int) -> dict[tuple[str, ...], list[tuple[int, int]]]:
    index: dict[tuple[str, ...], list[tuple[int, int]]] = defaultdict(list)
    for record_index, tokens in enumerate(records):
        for start in range(len(tokens) - length + 1):
            index[tuple(tokens[start:start + length])].append((record_index, start))
    return index


def _longest_match(
    tokens: list[str],
    records: Sequence[list[str]],
    index: dict[tuple[str, ...], list[tuple[int, int]]],
    min_length: int,
) -> tuple[int, set[int]]:
    best, owners = 0, set()
    for start in range(len(tokens) - min_length + 1):
        for record_index, record_start in index.get(tuple(tokens[start:start + min_length]), ()):
            record = records[record_index]
            length = min_length
            while (
                start + length < len(tokens)
                and record_start + length < len(record)
                and tokens[start + length] == record[record_start + length]
            ):
                length += 1
            if length > best:
                best, owners = length, {record_index}
            elif length == best:
                owners.add(record_index)
    return best, owners


def ngram_overlap(synthetic_texts: Sequence[str], private_texts: Sequence[str], min_length: int = 8) -> OverlapReport:
    """Find the verbatim token runs that synthetic texts share with private records.

    Parameters
    ----------
    synthetic_texts
        The generated texts.
    private_texts
        The private records' texts; their positions are the reported record indices.
    min_length
        The shortest run, in tokens, that counts as an overlap; 1 or more.

    Returns
    -------
    OverlapReport
    """
    if isinstance(min_length, bool) or not isinstance(min_length, int) or min_length < 1:
        raise ValueError(f"min_length={min_length!r} is invalid: give a whole number of tokens, 1 or more.")
    records = [_tokens(text) for text in private_texts]
    index = _index_ngrams(records, min_length)
    by_tokens: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for record_index, tokens in enumerate(records):
        by_tokens[tuple(tokens)].append(record_index)

    matches, copies = [], []
    for synthetic_index, text in enumerate(synthetic_texts):
        tokens = _tokens(text)
        copies.extend((synthetic_index, record_index) for record_index in by_tokens.get(tuple(tokens), ()) if tokens)
        length, owners = _longest_match(tokens, records, index, min_length)
        if length:
            matches.append(OverlapMatch(synthetic_index, length, tuple(sorted(owners))))
    return OverlapReport(min_length, len(synthetic_texts), len(private_texts), tuple(matches), tuple(copies))


@dataclass(frozen=True)
class Canary:
    """A record inserted into the private data to measure what the synthetic data reveals.

    Attributes
    ----------
    label
        The label pool the canary joins.
    prefix
        Public text before the secret.
    secret
        The secret tokens' words, such as ``("4", "7", "1")``; each must be one token.
    """

    label: str
    prefix: str
    secret: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "secret", tuple(self.secret))
        if not self.prefix.strip() or "\n" in self.prefix:
            raise ValueError("the canary's prefix is invalid: give a non-empty single line of public text.")
        if not self.secret:
            raise ValueError("the canary's secret is empty: give one or more words.")
        for word in self.secret:
            if tokenize(word) != [" " + word]:
                raise ValueError(
                    f"secret word {word!r} is invalid: each secret word must be a single token, "
                    "a word or number without spaces or punctuation."
                )

    @property
    def text(self) -> str:
        """The canary record's text: the prefix, then the secret words."""
        return " ".join([self.prefix, *self.secret])

    def with_secret(self, secret: Sequence[str]) -> Canary:
        """Return the same canary with another secret: a candidate for ranking."""
        return Canary(self.label, self.prefix, tuple(secret))


def make_canaries(
    labels: Sequence[str],
    rng: np.random.Generator,
    *,
    prefix: str = DEFAULT_CANARY_PREFIX,
    length: int = 6,
    alphabet: Sequence[str] = DIGITS,
) -> tuple[Canary, ...]:
    """Draw one canary per entry of ``labels``, each with a uniformly random secret.

    A secret of ``length`` words from ``alphabet`` has ``len(alphabet) ** length``
    possible values; 10 ** 6 by default.
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length={length!r} is invalid: give a whole number of secret words, 1 or more.")
    if len(set(alphabet)) < 2:
        raise ValueError("alphabet is invalid: give at least two distinct secret words.")
    words = list(alphabet)
    return tuple(
        Canary(label, prefix, tuple(words[i] for i in rng.integers(0, len(words), size=length)))
        for label in labels
    )


def insert_canaries(
    records: Sequence[Example], canaries: Sequence[Canary], rng: np.random.Generator
) -> tuple[list[Example], tuple[int, ...]]:
    """Insert the canaries at random positions of the records.

    Returns
    -------
    list of Example
        The records with the canaries.
    tuple of int
        Each canary's position in the returned list.
    """
    total = len(records) + len(canaries)
    positions = [int(position) for position in rng.choice(total, size=len(canaries), replace=False)]
    placed = {position: canaries[i] for i, position in enumerate(positions)}
    result, remaining = [], iter(records)
    for position in range(total):
        canary = placed.get(position)
        result.append(Example(canary.text, canary.label) if canary is not None else next(remaining))
    return result, tuple(positions)


@dataclass(frozen=True)
class CanaryExposure:
    """The exposure of one canary in a synthetic dataset.

    Attributes
    ----------
    canary_index
        The canary's position in the list passed to :func:`canary_exposure`.
    label
        The canary's label.
    secret_copies
        Synthetic texts that contain the whole secret verbatim.
    rank
        The secret's rank among the candidates and itself by likelihood, 1 for
        the most likely; a tie counts half.
    candidates
        Random candidate secrets it was ranked against.
    exposure
        ``log2(candidates + 1) - log2(rank)``, in bits.
    """

    canary_index: int
    label: str
    secret_copies: int
    rank: float
    candidates: int
    exposure: float

    @property
    def max_exposure(self) -> float:
        """The exposure of a secret that ranks first: ``log2(candidates + 1)``."""
        return math.log2(self.candidates + 1)


@dataclass(frozen=True)
class ExposureReport:
    """Exposure of every canary, in the order they were passed."""

    canaries: tuple[CanaryExposure, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON values: counts, ranks and bits only."""
        return {
            "canaries": [
                {
                    "canary_index": item.canary_index,
                    "label": item.label,
                    "secret_copies": item.secret_copies,
                    "rank": item.rank,
                    "candidates": item.candidates,
                    "exposure_bits": item.exposure,
                    "max_exposure_bits": item.max_exposure,
                }
                for item in self.canaries
            ]
        }


class _SecretScorer:
    """Log-likelihood of a canary's secret under the model prompted with synthetic texts."""

    def __init__(self, model: InContextModel, bundle: PromptBundle, examples: Sequence[str], canary: Canary) -> None:
        self.model, self.bundle, self.canary = model, bundle, canary
        self.shots = [(canary.label, fold_text(text)) for text in examples]
        self.cache: dict[tuple[str, ...], dict[str, float]] = {}

    def _distribution(self, words: tuple[str, ...]) -> dict[str, float]:
        if words not in self.cache:
            prefix = " " + " ".join([self.canary.prefix, *words])
            prompt = few_shot_prompt(self.bundle, self.shots, self.canary.label, prefix)
            self.cache[words] = self.model.next_token_distribution(prompt)
        return self.cache[words]

    def score(self, secret: Sequence[str]) -> float:
        total = 0.0
        for position, word in enumerate(secret):
            probability = self._distribution(tuple(secret[:position])).get(" " + word, 0.0)
            total += math.log(max(probability, _TOKEN_FLOOR))
        return total


def _contains(tokens: list[str], run: list[str]) -> bool:
    width = len(run)
    return any(tokens[start:start + width] == run for start in range(len(tokens) - width + 1))


def canary_exposure(
    synthetic: Sequence[Example],
    canaries: Sequence[Canary],
    rng: np.random.Generator,
    *,
    candidates: int = 1000,
    alphabet: Sequence[str] = DIGITS,
    model: InContextModel | None = None,
    bundle: PromptBundle = PromptBundle(),
) -> ExposureReport:
    """Measure how much the synthetic dataset reveals each canary's secret.

    Parameters
    ----------
    synthetic
        The generated examples.
    canaries
        The canaries inserted into the private data before generation.
    rng
        Draws the candidate secrets.
    candidates
        Random candidate secrets per canary, each of the secret's length, from ``alphabet``.
    alphabet
        The words the candidate secrets are drawn from: the canaries' alphabet.
    model
        The offline model whose likelihood ranks the secrets; a default
        :class:`~dpsynth.incontext.InContextModel` when None. It is prompted with
        the synthetic texts of the canary's label as few-shot examples.
    bundle
        The prompt wording.
    """
    if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
        raise ValueError(f"candidates={candidates!r} is invalid: give a whole number, 1 or more.")
    model = model or InContextModel(bundle)
    words = list(alphabet)
    results = []
    for canary_index, canary in enumerate(canaries):
        texts = [example.text for example in synthetic if example.label == canary.label]
        secret_tokens = _tokens(" ".join(canary.secret))
        copies = sum(_contains(_tokens(text), secret_tokens) for text in texts)
        scorer = _SecretScorer(model, bundle, texts, canary)
        own = scorer.score(canary.secret)
        draws = rng.integers(0, len(words), size=(candidates, len(canary.secret)))
        scores = np.array([scorer.score([words[i] for i in row]) for row in draws])
        rank = 1.0 + np.count_nonzero(scores > own) + np.count_nonzero(scores == own) / 2.0
        exposure = math.log2(candidates + 1) - math.log2(rank)
        results.append(CanaryExposure(canary_index, canary.label, copies, float(rank), candidates, exposure))
    return ExposureReport(tuple(results))
