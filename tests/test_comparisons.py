"""The comparisons table: claims derived from the config, the right models paired, Holm within each group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from landcover_transfer.aggregate.comparisons import (
    CLAIMS,
    VERSUS_BEST,
    augmentation_claims,
    comparisons,
    comparisons_table,
    depth_claims,
    ensemble_claims,
    finetune_vs_classical,
)
from landcover_transfer.evaluation.accuracy_stats import MCNEMAR, PERMUTATION, holm, mcnemar_exact, permutation_p_value
from landcover_transfer.reporting.tables import average_over_seeds, write_table

GRID = {"architectures": ["vgg16", "mobilenet_v2"], "strategies": ["last_block", "last_two_blocks", "progressive"],
        "augmentations": ["none", "standard"]}
DEPTHS = {"last_block": [1], "last_two_blocks": [2], "progressive": [1, 2]}
HAS_LAYERS = {"none": False, "standard": True}
STATISTICS = {"confidence_level": 0.95, "bootstrap_resamples": 500, "seed": 0}


def test_depth_claims_pair_uniform_strategies_per_architecture_and_augmentation():
    claims = depth_claims(GRID, DEPTHS)
    assert {(c["a"], c["b"]) for c in claims} == {
        (f"finetune/{arch}/last_two_blocks/{aug}", f"finetune/{arch}/last_block/{aug}")
        for arch in GRID["architectures"] for aug in GRID["augmentations"]}
    assert {c["comparison"] for c in claims} == {"2 blocks vs 1 block"}
    # a grid without a two-block strategy has no such claim
    assert depth_claims({**GRID, "strategies": ["last_block", "progressive"]}, DEPTHS) == []


def test_augmentation_claims_pair_each_policy_with_layers_against_each_without():
    grid = {**GRID, "augmentations": ["none", "standard", "fgsm"]}
    claims = augmentation_claims(grid, {**HAS_LAYERS, "fgsm": True})
    assert len(claims) == 2 * 2 * 3  # policies with layers x architectures x strategies
    assert {(c["a"].split("/")[-1], c["b"].split("/")[-1]) for c in claims} == {("standard", "none"), ("fgsm", "none")}
    assert augmentation_claims({**GRID, "augmentations": ["standard"]}, HAS_LAYERS) == []


def make_frames(rng, images=400):
    """Fake `collect_results` frames: accuracies and selection accuracies chosen so that the best on the
    selection split is not the best on the evaluation split."""
    def correct(accuracy):
        return rng.random(images) < accuracy

    finetune = pd.DataFrame([
        {"architecture": arch, "strategy": strategy, "augmentation": aug,
         "selection_accuracy": 0.5 + 0.01 * k, "correct": correct(0.6 + 0.02 * ((k * 7) % 12))}
        for k, (arch, strategy, aug) in enumerate(
            (a, s, g) for a in GRID["architectures"] for s in GRID["strategies"] for g in GRID["augmentations"])])
    classical = pd.DataFrame([{"model": "svm", "selection_accuracy": 0.7, "correct": correct(0.5)},
                              {"model": "xgboost", "selection_accuracy": 0.6, "correct": correct(0.55)}])
    ensemble = pd.DataFrame([{"method": "soft_vote", "correct": correct(0.9), "member_selection_accuracy": {
        "finetune/vgg16/last_block/none": 0.8, "finetune/mobilenet_v2/progressive/standard": 0.9,
        "classical/svm": 0.9}}])
    for frame in (finetune, classical, ensemble):  # as tables.collect_results leaves them
        frame["accuracy"] = frame["correct"].map(np.mean)
        frame["accuracy_low"], frame["accuracy_high"] = frame["accuracy"] - 0.05, frame["accuracy"] + 0.05
    return {"classical": classical, "finetune": finetune, "ensemble": ensemble}


def test_best_member_and_best_of_a_family_are_chosen_on_the_selection_split():
    frames = make_frames(np.random.default_rng(0))
    # two members tie at 0.9: the first id in sorted order
    assert ensemble_claims(frames["ensemble"]) == [
        {"comparison": "ensemble vs its best member", "a": "ensemble/soft_vote", "b": "classical/svm"}]
    best_finetune = frames["finetune"].loc[frames["finetune"]["selection_accuracy"].idxmax()]
    assert finetune_vs_classical(frames) == [{
        "comparison": "best fine-tuned vs best classical",
        "a": f"finetune/{best_finetune.architecture}/{best_finetune.strategy}/{best_finetune.augmentation}",
        "b": "classical/svm"}]  # svm: best selection accuracy, worse evaluation accuracy than xgboost
    assert finetune_vs_classical({**frames, "classical": pd.DataFrame()}) == []


def test_comparisons_pair_the_right_images_and_holm_correct_within_each_group():
    frames = make_frames(np.random.default_rng(1))
    raw = comparisons(frames, GRID, DEPTHS, HAS_LAYERS, STATISTICS)
    models = {"ensemble/soft_vote": frames["ensemble"].iloc[0], "classical/svm": frames["classical"].iloc[0],
              "classical/xgboost": frames["classical"].iloc[1]}
    models.update({f"finetune/{r.architecture}/{r.strategy}/{r.augmentation}": r
                   for _, r in frames["finetune"].iterrows()})
    best = max(models, key=lambda m: models[m]["accuracy"])
    versus = raw[raw["group"] == VERSUS_BEST]
    assert set(versus["a"]) == {best} and sorted(versus["b"]) == sorted(set(models) - {best})
    claims = raw[raw["group"] == CLAIMS]
    assert len(claims) == 4 + 6 + 1 + 1  # depth (2 archs x 2 augs), augmentation (2 x 3), ensemble, families
    for _, row in raw.iterrows():
        a, b = models[row["a"]]["correct"], models[row["b"]]["correct"]
        assert row["difference"] == pytest.approx(a.mean() - b.mean())
        assert row["low"] <= row["difference"] <= row["high"]
        assert row["p_value"] == pytest.approx(mcnemar_exact(a, b))
    for group in (versus, claims):
        np.testing.assert_allclose(group["p_holm"], holm(group["p_value"]))


def test_comparisons_table_names_the_methods_and_marks_significance(tmp_path):
    raw = pd.DataFrame([{"group": CLAIMS, "comparison": "x", "a": "A", "b": "B", "accuracy_a": 0.9, "accuracy_b": 0.8,
                         "difference": 0.1, "low": 0.05, "high": 0.15, "only_a": 30, "only_b": 5,
                         "p_value": 1e-5, "p_holm": 2e-5},
                        {**{"group": CLAIMS, "comparison": "y", "a": "A", "b": "C"}, "accuracy_a": 0.9,
                         "accuracy_b": 0.89, "difference": 0.01, "low": -0.02, "high": 0.04, "only_a": 6, "only_b": 5,
                         "p_value": 0.5, "p_holm": 0.5}])
    table = comparisons_table(raw, 0.95)
    assert {"95% CI Low (paired bootstrap)", "Test", "p-value", "p-value (Holm)"} <= set(table.columns)
    assert table["Significant (Holm p < 0.05)"].tolist() == ["yes", "no"]
    write_table(table, tmp_path / "c.csv", tmp_path / "c.md")
    written = pd.read_csv(tmp_path / "c.csv", dtype=str)
    assert written["p-value (Holm)"].tolist() == ["2e-05", "0.5"]  # a small p-value is not printed as 0.0000


def test_seed_means_are_compared_by_permutation_and_ensembles_with_their_first_seed_member():
    """Two seeds per variant: variant rows are seed means (permutation test), an ensemble is compared with the
    training it took as member (the first seed's), and a classical pair keeps McNemar."""
    rng = np.random.default_rng(3)
    frames = make_frames(rng)
    second = frames["finetune"].copy()
    second["correct"] = [rng.random(len(c)) < 0.7 for c in second["correct"]]
    second["accuracy"] = second["correct"].map(np.mean)
    runs = pd.concat([frames["finetune"].assign(seed=42), second.assign(seed=7)]).sort_index(kind="stable")
    frames = {**frames, "finetune_runs": runs, "finetune": average_over_seeds(runs, 0.95, 200, 0)}
    frames["ensemble"].at[0, "member_selection_accuracy"] = {"finetune/vgg16/last_block/none": 0.95}
    raw = comparisons(frames, GRID, DEPTHS, HAS_LAYERS, STATISTICS, seeds=[42, 7])

    member = raw[raw["comparison"] == "ensemble vs its best member"].iloc[0]
    assert member["b"] == "finetune/vgg16/last_block/none/seed42" and member["test"] == MCNEMAR
    first_seed = runs[(runs.architecture == "vgg16") & (runs.strategy == "last_block") & (runs.augmentation == "none")
                      & (runs.seed == 42)].iloc[0]["correct"]
    assert member["p_value"] == pytest.approx(mcnemar_exact(frames["ensemble"].iloc[0]["correct"], first_seed))
    augmentation = raw[raw["comparison"] == "augmentation standard vs none"]
    assert len(augmentation) == 6 and set(augmentation["test"]) == {PERMUTATION}
    assert augmentation["only_a"].isna().all()
    row = augmentation.iloc[0]
    a, b = (frames["finetune"].set_index(["architecture", "strategy", "augmentation"]).loc[tuple(x.split("/")[1:])]
            for x in (row["a"], row["b"]))
    assert row["difference"] == pytest.approx(a["correct"].mean() - b["correct"].mean())
    assert row["p_value"] == pytest.approx(permutation_p_value(a["correct"], b["correct"], 500, 0))
