"""Noisy selection: the private choice of the next token from the merged vector.

Both mechanisms take the merged probability vector ``p`` over the universe ``U``
(the mean of ``M`` split vectors) and return the index of the selected token.
Only that index leaves the mechanism: ``p``, the split vectors and the noise are
secret.

Gaussian noisy argmax
    ``argmax_u p_u + Z_u`` with ``Z_u ~ N(0, s^2)`` independent and
    ``s = sigma * sqrt(2) / M``. One record changes one split vector, which moves
    ``p`` by at most ``sqrt(2) / M`` in L2 norm, so ``sigma`` is the noise
    multiplier of a Gaussian mechanism with that sensitivity.

Exponential mechanism (report noisy max with Gumbel noise)
    ``argmax_u (eps0 * M / 2) * p_u + G_u`` with ``G_u ~ Gumbel(0, 1)``, which
    selects ``u`` with probability ``softmax(eps0 * M / 2 * p)_u``. One record
    moves each ``p_u`` by at most ``1 / M``, so one selection is ``eps0``-DP.

The functions broadcast over leading axes: ``p`` of shape ``(..., |U|)`` gives
indices of shape ``(...)``, which is how the audit runs many trials at once.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "STOP_TOKENS",
    "exponential_noisy_argmax",
    "exponential_scale",
    "gaussian_noise",
    "gaussian_noise_std",
    "gaussian_noisy_argmax",
    "is_stop_token",
    "selection_probabilities_exponential",
]

STOP_TOKENS: frozenset[str] = frozenset(
    {"\n", " END", "END", "<|endoftext|>", "</s>", "<|eot_id|>", "<|im_end|>", "<|end|>", "<eos>"}
)
"""End-of-text markers that end a synthetic text; any token containing a newline does too."""


def is_stop_token(token: str) -> bool:
    """Return True when ``token`` ends the text: a known end marker or any newline."""
    return token in STOP_TOKENS or "\n" in token


def _validate_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}={value!r} is invalid: give a positive finite number.")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r} is invalid: give a positive finite number.")
    return float(value)


def _validate_splits(num_splits: int) -> int:
    if isinstance(num_splits, bool) or not isinstance(num_splits, (int, np.integer)) or num_splits < 1:
        raise ValueError(f"num_splits={num_splits!r} is invalid: give a whole number, 1 or more.")
    return int(num_splits)


def gaussian_noise_std(sigma: float, num_splits: int) -> float:
    """Return ``s = sigma * sqrt(2) / M``, the noise standard deviation per coordinate."""
    sigma = _validate_positive("sigma", sigma)
    return sigma * math.sqrt(2.0) / _validate_splits(num_splits)


def gaussian_noise(
    shape: int | tuple[int, ...], sigma: float, num_splits: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw independent ``N(0, s^2)`` noise with ``s = sigma * sqrt(2) / M``."""
    return rng.normal(0.0, gaussian_noise_std(sigma, num_splits), size=shape)


def gaussian_noisy_argmax(
    merged: np.ndarray, sigma: float, num_splits: int, rng: np.random.Generator
) -> np.ndarray | int:
    """Select ``argmax(p + N(0, s^2 I))`` with ``s = sigma * sqrt(2) / M``.

    Returns an ``int`` for a 1-D ``merged`` and an integer array otherwise.
    """
    merged = np.asarray(merged, dtype=float)
    return _argmax(merged + gaussian_noise(merged.shape, sigma, num_splits, rng))


def exponential_scale(epsilon_per_token: float, num_splits: int) -> float:
    """Return ``eps0 * M / 2``, the factor on ``p`` in the exponential mechanism's score."""
    epsilon_per_token = _validate_positive("epsilon_per_token", epsilon_per_token)
    return epsilon_per_token * _validate_splits(num_splits) / 2.0


def exponential_noisy_argmax(
    merged: np.ndarray, epsilon_per_token: float, num_splits: int, rng: np.random.Generator
) -> np.ndarray | int:
    """Select ``argmax((eps0 * M / 2) * p + Gumbel(0, 1))``, an ``eps0``-DP choice.

    Returns an ``int`` for a 1-D ``merged`` and an integer array otherwise.
    """
    merged = np.asarray(merged, dtype=float)
    scale = exponential_scale(epsilon_per_token, num_splits)
    noisy = scale * merged + rng.gumbel(0.0, 1.0, size=merged.shape)
    return _argmax(noisy)


def selection_probabilities_exponential(
    merged: np.ndarray, epsilon_per_token: float, num_splits: int
) -> np.ndarray:
    """Return the exact selection probabilities ``softmax((eps0 * M / 2) * p)``."""
    scores = exponential_scale(epsilon_per_token, num_splits) * np.asarray(merged, dtype=float)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True)


def _argmax(noisy: np.ndarray) -> np.ndarray | int:
    if noisy.shape[-1] == 0:
        raise ValueError("the token universe is empty: there is no token to select.")
    selected = np.argmax(noisy, axis=-1)
    return int(selected) if noisy.ndim == 1 else selected
