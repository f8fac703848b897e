"""Voting over ensemble members' class probabilities: majority, soft and weighted votes, and the input checks.

Pure numpy. Every function works on class-probability arrays of shape (N, C), one per ensemble member, in the same
member order throughout.

Tie-break rule (majority vote and weighted vote): each member votes for its argmax class. When several classes share
the highest vote count (or the highest summed weight, within 1e-9), the winner is the tied class with the highest
*mean probability over all members*; if that is tied too (exactly equal), the lowest class index wins. The rule is
deterministic and does not depend on member order.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from landcover_transfer.workflow.errors import ConfigError, DataError

#: Amount added to the winning class's vote share (then renormalised) so that argmax of the vote
#: "probabilities" equals the tie-broken vote. Large enough to survive float32 storage.
TIE_NUDGE = 1e-4

_SCORE_TOLERANCE = 1e-9


# --------------------------------------------------------------------------------------------
# input checks


def stack_probas(probas: Sequence[np.ndarray], what: str = "probas") -> np.ndarray:
    """Members' probabilities as one (M, N, C) float array, with shape checks."""
    if len(probas) == 0:
        raise ConfigError(f"{what}: an ensemble needs at least one member")
    arrays = [np.asarray(p, dtype=np.float64) for p in probas]
    for i, a in enumerate(arrays):
        if a.ndim != 2:
            raise DataError(f"{what}[{i}]: expected an (N, C) probability array, got shape {a.shape}")
        if a.shape != arrays[0].shape:
            raise DataError(f"{what}[{i}]: shape {a.shape} differs from member 0's {arrays[0].shape}")
    return np.stack(arrays)


def checked_labels(y, n: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{what}: expected {n} labels, got shape {y.shape}")
    return y.astype(np.int64)


# --------------------------------------------------------------------------------------------
# voting


def _tie_broken_argmax(scores: np.ndarray, mean_proba: np.ndarray) -> np.ndarray:
    """Argmax of `scores` (N, C); ties -> highest mean probability, then lowest class index."""
    tied = scores >= scores.max(axis=1, keepdims=True) - _SCORE_TOLERANCE
    return np.where(tied, mean_proba, -np.inf).argmax(axis=1)  # argmax: first (lowest) index on ties


def _votes(stacked: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N, C) sum of member weights per voted class."""
    m, n, c = stacked.shape
    scores = np.zeros((n, c))
    choices = stacked.argmax(axis=2)  # (M, N)
    for member in range(m):
        np.add.at(scores, (np.arange(n), choices[member]), weights[member])
    return scores


def _shares_as_proba(scores: np.ndarray, winner: np.ndarray) -> np.ndarray:
    """Vote shares (rows sum to 1) with `TIE_NUDGE` added to the winner so argmax == winner."""
    shares = scores / scores.sum(axis=1, keepdims=True)
    shares[np.arange(len(winner)), winner] += TIE_NUDGE
    return shares / shares.sum(axis=1, keepdims=True)


def majority_vote_proba(probas: Sequence[np.ndarray]) -> np.ndarray:
    """(N, C) vote shares (fraction of members voting each class); argmax is the plurality vote with
    ties broken as in the module doc."""
    stacked = stack_probas(probas)
    scores = _votes(stacked, np.ones(len(stacked)))
    return _shares_as_proba(scores, _tie_broken_argmax(scores, stacked.mean(axis=0)))


def soft_vote(probas: Sequence[np.ndarray]) -> np.ndarray:
    """(N, C) mean of the members' probabilities."""
    return stack_probas(probas).mean(axis=0)


def normalise_weights(weights: Sequence[float], n_members: int) -> np.ndarray:
    """Weights as a float array summing to 1; they must be finite, >= 0, not all 0."""
    w = np.asarray(weights, dtype=np.float64).ravel()
    if len(w) != n_members:
        raise ConfigError(f"got {len(w)} weights for {n_members} ensemble members")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ConfigError(f"ensemble weights must be finite, non-negative and not all zero: {w.tolist()}")
    return w / w.sum()


def weighted_vote(probas: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """(N, C) accuracy-weighted *hard* votes: each member's argmax vote counts with its weight.

    Weights are normalised to sum 1, so a row holds the weight share of each class (then
    `TIE_NUDGE` on the winner). Ties in summed weight are broken as in the module doc.
    """
    stacked = stack_probas(probas)
    scores = _votes(stacked, normalise_weights(weights, len(stacked)))
    return _shares_as_proba(scores, _tie_broken_argmax(scores, stacked.mean(axis=0)))


def member_accuracies(probas: Sequence[np.ndarray], y_true) -> np.ndarray:
    """(M,) accuracy of each member's argmax against `y_true`."""
    stacked = stack_probas(probas)
    y = checked_labels(y_true, stacked.shape[1], "y_true")
    return (stacked.argmax(axis=2) == y[None, :]).mean(axis=1)
