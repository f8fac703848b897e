"""How sure an accuracy is: intervals for one accuracy, paired comparisons of two models on the same images.

Every function takes per-image correctness (a boolean array, one entry per evaluation image, in the split's
order), so two models are compared image by image: that pairing is what makes a difference of a fraction of a
point testable. The statistics come from statsmodels and scipy:

- one accuracy: the Wilson score interval (`proportion_confint(method="wilson")`), which keeps its nominal
  coverage near 0 and 1 where the normal approximation does not;
- a difference of two accuracies on the same images: a percentile bootstrap over images (`scipy.stats.bootstrap`
  of the per-image difference, seeded), so the interval accounts for the images both models get right or wrong;
- whether two models differ: the exact McNemar test (a binomial test on the images exactly one of them gets
  right), and Holm's correction when several such tests are read together.

A variant trained with several seeds has, per image, the fraction of its seeds that get it right. Its accuracy (the
seed mean) gets the percentile bootstrap interval over images, and a comparison involving it the paired
permutation test (`scipy.stats.permutation_test`, each image's two values swapped at random), since McNemar's test
needs one right-or-wrong answer per image.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from scipy.stats import DegenerateDataWarning, bootstrap, permutation_test
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from landcover_transfer.workflow.errors import DataError

# Resampling the per-image differences in batches keeps memory at batch x images (10,000 x 4,800 at once is
# 380 MB of indices).
_BOOTSTRAP_BATCH = 500


def correct_answers(proba: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """Per image, whether the model's most probable class is the true one."""
    proba, y_true = np.asarray(proba), np.asarray(y_true)
    if proba.ndim != 2 or len(proba) != len(y_true):
        raise DataError(f"class probabilities of shape {proba.shape} do not match {len(y_true)} evaluation labels")
    return proba.argmax(axis=1) == y_true


def wilson_interval(correct: np.ndarray, level: float) -> tuple[float, float]:
    """The Wilson score interval of the accuracy `correct.mean()` at confidence `level` (e.g. 0.95)."""
    correct = _as_correctness(correct)
    low, high = proportion_confint(int(correct.sum()), len(correct), alpha=1 - level, method="wilson")
    return float(low), float(high)


def bootstrap_interval(correct: np.ndarray, level: float, resamples: int, seed: int) -> tuple[float, float]:
    """The percentile bootstrap interval (images resampled, `seed`ed) of the mean of per-image correctness, e.g. the
    fraction of a variant's seeds right on each image: the interval of its seed-averaged accuracy."""
    return _percentile_bootstrap(_as_correctness(correct).astype(float), level, resamples, seed)


def _percentile_bootstrap(values: np.ndarray, level: float, resamples: int, seed: int) -> tuple[float, float]:
    """The seeded percentile bootstrap interval of the mean of per-image `values` (images resampled)."""
    with warnings.catch_warnings():
        # Every image alike (e.g. two models that agree on every image): every resample gives the same mean, the
        # interval is that point, which is the right answer; scipy warns that the distribution is degenerate.
        warnings.simplefilter("ignore", DegenerateDataWarning)
        result = bootstrap((values,), np.mean, n_resamples=resamples, confidence_level=level, method="percentile",
                           rng=np.random.default_rng(seed), batch=_BOOTSTRAP_BATCH, vectorized=True)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_difference(correct_a: np.ndarray, correct_b: np.ndarray, level: float, resamples: int,
                      seed: int) -> dict:
    """Accuracy of A minus accuracy of B on the same images, with its percentile bootstrap interval.

    Images are resampled with replacement, the same images for both models (the bootstrap of the per-image
    difference a_i - b_i); `seed` makes the interval reproducible. Returns difference, low, high.
    """
    difference = _paired(correct_a, correct_b)
    low, high = _percentile_bootstrap(difference, level, resamples, seed)
    return {"difference": float(difference.mean()), "low": low, "high": high}


def discordant_pairs(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int]:
    """(b, c): images only A gets right, images only B gets right (the only ones McNemar's test reads)."""
    a, b = _as_correctness(correct_a), _as_correctness(correct_b)
    _paired(a, b)
    return int(np.sum(a & ~b)), int(np.sum(~a & b))


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Two-sided p-value of the exact McNemar test that A and B are equally accurate on these images.

    Under the null hypothesis each discordant image is equally likely to favour A or B: a binomial test of
    b successes in b + c trials at 1/2. No discordant image at all gives p = 1.
    """
    only_a, only_b = discordant_pairs(correct_a, correct_b)
    if only_a + only_b == 0:
        return 1.0
    return float(mcnemar([[0, only_a], [only_b, 0]], exact=True).pvalue)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate) of several tests read together."""
    p_values = np.asarray(p_values, dtype=float)
    if len(p_values) == 0:
        return p_values
    return multipletests(p_values, method="holm")[1]


def permutation_p_value(correct_a: np.ndarray, correct_b: np.ndarray, resamples: int, seed: int) -> float:
    """Two-sided p-value of the paired permutation test that A and B are equally accurate on these images (for
    seed-averaged correctness, where McNemar's test does not apply): under the null hypothesis each image's two
    values are exchangeable, so they are swapped at random (`seed`ed) and the mean difference recomputed."""
    a, b = (_as_correctness(c).astype(float) for c in (correct_a, correct_b))
    _paired(a, b)
    if np.array_equal(a, b):
        return 1.0
    result = permutation_test((a, b), lambda x, y, axis: np.mean(x - y, axis=axis), permutation_type="samples",
                              n_resamples=resamples, vectorized=True, rng=np.random.default_rng(seed))
    return float(result.pvalue)


MCNEMAR = "exact McNemar"
PERMUTATION = "paired permutation"


def compare(correct_a: np.ndarray, correct_b: np.ndarray, level: float, resamples: int, seed: int) -> dict:
    """A against B on the same images: accuracies, the difference with its paired interval, and the test: for two
    single trainings the discordant counts and the exact McNemar p-value; where either is a seed mean, the paired
    permutation test (discordant counts do not apply)."""
    single = _as_correctness(correct_a).dtype == bool and _as_correctness(correct_b).dtype == bool
    only_a, only_b = discordant_pairs(correct_a, correct_b) if single else (None, None)
    return {
        "accuracy_a": float(np.mean(correct_a)),
        "accuracy_b": float(np.mean(correct_b)),
        **paired_difference(correct_a, correct_b, level, resamples, seed),
        "only_a": only_a,
        "only_b": only_b,
        "test": MCNEMAR if single else PERMUTATION,
        "p_value": mcnemar_exact(correct_a, correct_b) if single else permutation_p_value(correct_a, correct_b,
                                                                                           resamples, seed),
    }


def _as_correctness(correct) -> np.ndarray:
    """`correct` as a 1-d array: booleans (one training), or fractions of seeds right per image (kept as floats)."""
    correct = np.asarray(correct)
    if correct.ndim != 1 or len(correct) == 0:
        raise DataError(f"per-image correctness must be a non-empty 1-d array, got shape {correct.shape}")
    if correct.dtype == bool or np.issubdtype(correct.dtype, np.integer):
        return correct.astype(bool)
    if not ((correct >= 0) & (correct <= 1)).all():
        raise DataError("per-image correctness must be booleans or fractions of seeds between 0 and 1")
    return correct.astype(float)


def _paired(correct_a, correct_b) -> np.ndarray:
    """Per-image difference a_i - b_i (between -1 and 1) of two models' correctness on the same images."""
    a, b = _as_correctness(correct_a), _as_correctness(correct_b)
    if len(a) != len(b):
        raise DataError(f"paired comparison of models evaluated on {len(a)} and {len(b)} images: "
                        "they must be the same evaluation images")
    return a.astype(float) - b.astype(float)
