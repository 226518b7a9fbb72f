"""Next-token distributions: the public token universe, each split's vote, the merge.

At one token step the public prompt's top-k candidates form the token universe
``U`` and, renormalised, the public distribution ``p0``. Each split's top-k
candidates are restricted to ``U`` (a token of ``U`` the split did not return has
probability 0) and renormalised over ``U``; a split that returned no token of ``U``
votes with ``p0``, which is public. The merged vector is the mean of the ``M``
split vectors, so replacing one split's vector moves it by at most
``sqrt(2) / M`` in L2 norm: two probability vectors differ by at most ``sqrt(2)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "LOGPROB_SENTINEL",
    "TokenUniverse",
    "merge",
    "split_distribution",
    "token_universe",
]

LOGPROB_SENTINEL = -9999.0
"""Logprob that some servers send for an impossible token; it means probability 0."""


@dataclass(frozen=True)
class TokenUniverse:
    """The candidate tokens of one step and their public probabilities.

    Attributes
    ----------
    tokens
        The public prompt's top-k tokens, most probable first, ties by token string.
    public
        ``p0``: their probabilities renormalised to sum to 1, in the same order.
    """

    tokens: tuple[str, ...]
    public: np.ndarray

    def __len__(self) -> int:
        return len(self.tokens)


LOGPROB_TOLERANCE = 1e-6
"""Largest logprob accepted above 0, for servers that round log(1) up slightly."""


def _probability(logprob: float) -> float:
    if logprob == -math.inf or logprob <= LOGPROB_SENTINEL:
        return 0.0
    if not math.isfinite(logprob) or logprob > LOGPROB_TOLERANCE:
        raise ValueError(
            f"a candidate has logprob {logprob!r}, which is no log-probability: the endpoint "
            "returned a malformed response."
        )
    return math.exp(min(logprob, 0.0))


def token_universe(public_logprobs: Mapping[str, float]) -> TokenUniverse:
    """Build the universe ``U`` and ``p0`` from the public prompt's top-k logprobs.

    Raises
    ------
    ValueError
        No candidate has a positive probability, so there is nothing to vote on.
    """
    candidates = [(token, _probability(lp)) for token, lp in public_logprobs.items()]
    candidates = [(token, p) for token, p in candidates if p > 0.0]
    if not candidates:
        raise ValueError(
            f"the public prompt returned {len(public_logprobs)} candidate(s) and none with a "
            "positive probability: the model or endpoint returned no usable logprobs."
        )
    candidates.sort(key=lambda item: (-item[1], item[0]))
    tokens = tuple(token for token, _ in candidates)
    probabilities = np.array([p for _, p in candidates])
    return TokenUniverse(tokens, probabilities / probabilities.sum())


def split_distribution(
    split_logprobs: Mapping[str, float], universe: TokenUniverse
) -> tuple[np.ndarray, bool]:
    """Restrict one split's top-k to ``U`` and renormalise over ``U``.

    Returns
    -------
    numpy.ndarray
        The split's probability vector over ``universe.tokens``.
    bool
        True when no token of ``U`` came back and the vector is ``p0``.
    """
    vector = np.array([_probability(split_logprobs.get(token, -math.inf)) for token in universe.tokens])
    total = vector.sum()
    if total <= 0.0:
        return universe.public.copy(), True
    return vector / total, False


def merge(split_vectors: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Average the splits' probability vectors: ``p = (1/M) * sum_j p_j``."""
    stacked = np.asarray(split_vectors, dtype=float)
    if stacked.ndim != 2 or stacked.shape[0] == 0:
        raise ValueError(
            f"expected an (M, |U|) array of split vectors with M >= 1, got shape {stacked.shape}."
        )
    return stacked.mean(axis=0)
