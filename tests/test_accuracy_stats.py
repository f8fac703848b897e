"""Intervals and paired tests of accuracies, checked against simulation and hand-computed values."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from landcover_transfer.evaluation.accuracy_stats import (
    MCNEMAR,
    PERMUTATION,
    bootstrap_interval,
    compare,
    correct_answers,
    discordant_pairs,
    holm,
    mcnemar_exact,
    paired_difference,
    permutation_p_value,
    wilson_interval,
)
from landcover_transfer.workflow.errors import DataError


def test_wilson_interval_covers_the_true_accuracy_at_the_nominal_rate():
    rng = np.random.default_rng(11)
    true_accuracy, images, draws = 0.9, 400, 1000
    covered = 0
    for _ in range(draws):
        low, high = wilson_interval(rng.random(images) < true_accuracy, 0.95)
        covered += low <= true_accuracy <= high
    assert covered / draws >= 0.93


def test_wilson_interval_is_narrower_with_more_images_and_stays_inside_0_1():
    few, many = np.r_[np.ones(19), 0].astype(bool), np.r_[np.ones(1900), np.zeros(100)].astype(bool)
    low_few, high_few = wilson_interval(few, 0.95)
    low_many, high_many = wilson_interval(many, 0.95)
    assert high_many - low_many < high_few - low_few
    assert 0 <= low_few < 0.95 < high_few <= 1
    assert wilson_interval(np.ones(10, bool), 0.95)[1] == pytest.approx(1.0)


def test_paired_bootstrap_interval_covers_the_true_difference_at_the_nominal_rate():
    # Shared hard images correlate the two models (A right below 0.85 hardness, B below 0.80), and each model
    # flips 5% of its answers on its own: accuracy A = 0.85 x 0.95 + 0.15 x 0.05 = 0.815, B = 0.80 x 0.95 +
    # 0.20 x 0.05 = 0.77, true difference 0.045.
    rng = np.random.default_rng(5)
    images, draws, covered = 300, 300, 0
    for draw in range(draws):
        hardness = rng.random(images)
        a = (hardness < 0.85) ^ (rng.random(images) < 0.05)
        b = (hardness < 0.80) ^ (rng.random(images) < 0.05)
        result = paired_difference(a, b, 0.95, resamples=400, seed=draw)
        covered += result["low"] <= 0.045 <= result["high"]
    assert covered / draws >= 0.92  # 300 draws of a 95% interval: the observed rate is >= 0.92 with probability > 99%


def test_paired_difference_is_the_difference_of_accuracies_and_reproducible():
    rng = np.random.default_rng(0)
    a, b = rng.random(500) < 0.8, rng.random(500) < 0.7
    first, again = (paired_difference(a, b, 0.95, 1000, seed=3) for _ in range(2))
    assert first == again
    assert first["difference"] == pytest.approx(a.mean() - b.mean())
    assert first["low"] < first["difference"] < first["high"]


def test_identical_models_have_a_zero_width_interval_and_p_value_1():
    a = np.r_[np.ones(30), np.zeros(10)].astype(bool)
    assert paired_difference(a, a, 0.95, 200, seed=0) == {"difference": 0.0, "low": 0.0, "high": 0.0}
    assert mcnemar_exact(a, a) == 1.0


def test_mcnemar_exact_matches_the_hand_computed_binomial_p_value():
    # b = 10 images only A gets right, c = 2 only B gets right, 30 both right, 8 both wrong.
    a = np.r_[np.ones(10), np.zeros(2), np.ones(30), np.zeros(8)].astype(bool)
    b = np.r_[np.zeros(10), np.ones(2), np.ones(30), np.zeros(8)].astype(bool)
    assert discordant_pairs(a, b) == (10, 2)
    # two-sided exact binomial: 2 * P(X <= 2 | n = 12, p = 1/2) = 2 * (1 + 12 + 66) / 4096 = 0.0385742...
    hand = 2 * sum(comb(12, k) for k in range(3)) / 2**12
    assert hand == pytest.approx(0.03857421875)
    assert mcnemar_exact(a, b) == pytest.approx(hand, rel=1e-12)
    assert mcnemar_exact(b, a) == pytest.approx(hand, rel=1e-12)  # symmetric


def test_holm_matches_the_textbook_example():
    # Holm-Bonferroni (Holm 1979; the example of Wikipedia's "Holm-Bonferroni method"): p = 0.01, 0.04, 0.03,
    # 0.005 for H1..H4, m = 4. Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06
    # (adjusted values never decrease along the order). At alpha 0.05 H4 and H1 are rejected, H3 and H2 not.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    assert list(adjusted <= 0.05) == [True, False, False, True]
    assert holm([]).size == 0


def test_compare_reports_both_accuracies_the_counts_and_the_test():
    a = np.r_[np.ones(10), np.zeros(2), np.ones(30), np.zeros(8)].astype(bool)
    b = np.r_[np.zeros(10), np.ones(2), np.ones(30), np.zeros(8)].astype(bool)
    result = compare(a, b, 0.95, 500, seed=1)
    assert (result["accuracy_a"], result["accuracy_b"]) == (pytest.approx(0.8), pytest.approx(0.64))
    assert result["difference"] == pytest.approx(0.16)
    assert (result["only_a"], result["only_b"]) == (10, 2)
    assert result["p_value"] == pytest.approx(mcnemar_exact(a, b))


def test_correct_answers_and_mismatched_images_are_clear_errors():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert correct_answers(proba, np.array([0, 1, 1])).tolist() == [True, True, False]
    with pytest.raises(DataError, match="do not match 2 evaluation labels"):
        correct_answers(proba, np.array([0, 1]))
    with pytest.raises(DataError, match="same evaluation images"):
        mcnemar_exact(np.ones(3, bool), np.ones(4, bool))


def test_bootstrap_interval_of_a_seed_mean_covers_the_true_accuracy_at_the_nominal_rate():
    """Per image, the fraction of 3 seeds right (each image has its own difficulty): the interval of the mean."""
    rng = np.random.default_rng(5)
    images, seeds, draws, covered = 300, 3, 400, 0
    for _ in range(draws):
        difficulty = rng.beta(9, 1, images)  # the true accuracy is its expectation, 0.9
        fraction = (rng.random((seeds, images)) < difficulty).mean(axis=0)
        low, high = bootstrap_interval(fraction, 0.95, 400, int(rng.integers(1 << 30)))
        covered += low <= 0.9 <= high
    assert covered / draws >= 0.93


def test_permutation_test_finds_a_real_difference_and_not_an_invented_one():
    rng = np.random.default_rng(8)
    fractions = [(rng.random((2, 500)) < p).mean(axis=0) for p in (0.9, 0.8, 0.9)]
    assert permutation_p_value(fractions[0], fractions[1], 2000, 0) < 0.01
    assert permutation_p_value(fractions[0], fractions[2], 2000, 0) > 0.01
    assert permutation_p_value(fractions[0], fractions[0], 2000, 0) == 1.0
    assert permutation_p_value(fractions[0], fractions[1], 2000, 0) == permutation_p_value(
        fractions[0], fractions[1], 2000, 0)  # seeded


def test_compare_uses_mcnemar_for_single_trainings_and_permutation_for_seed_means():
    rng = np.random.default_rng(2)
    single_a, single_b = rng.random(200) < 0.8, rng.random(200) < 0.7
    assert compare(single_a, single_b, 0.95, 500, 0)["test"] == MCNEMAR
    mean_a = np.mean([single_a, rng.random(200) < 0.8], axis=0)
    mixed = compare(mean_a, single_b, 0.95, 500, 0)
    assert mixed["test"] == PERMUTATION and mixed["only_a"] is None
    assert mixed["difference"] == pytest.approx(mean_a.mean() - single_b.mean())
    with pytest.raises(DataError, match="between 0 and 1"):
        compare(mean_a + 1, single_b, 0.95, 500, 0)
