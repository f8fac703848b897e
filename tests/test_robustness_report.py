"""robustness/report.py: the Robustness tables, the leaderboard column and the plots, from hand-made results."""

import numpy as np
import pandas as pd
import pytest

from landcover_transfer.robustness import report as report

SETTINGS = {"eps": [0, 2, 8], "transfer_eps": 2, "transfer_attack": "pgd"}
AUGMENTATIONS = {"none": [], "pgd": [{"Adversarial": {"attack": "pgd", "eps": 2}}]}


def result(target, attack, accuracy):
    return {"target": target, "attack": attack, "eps": SETTINGS["eps"], "accuracy": accuracy}


RESULTS = [
    result("finetune/vgg16/last_block/none", "pgd", [0.9, 0.2, 0.0]),
    result("finetune/vgg16/last_block/none", "fgsm", [0.9, 0.4, 0.1]),
    result("finetune/vgg16/last_block/pgd", "pgd", [0.8, 0.5, 0.1]),
    result("ensemble", "pgd", [0.92, 0.3, 0.0]),
]
TRANSFER = pd.DataFrame(
    {"finetune/vgg16/last_block/none": [0.9, 0.2, 0.6, 0.5], "finetune/vgg16/last_block/pgd": [0.8, 0.7, 0.5, 0.6],
     "classical/svm": [0.85, 0.6, 0.4, 0.7], "ensemble/majority_vote": [0.93, 0.5, 0.55, 0.35]},
    index=pd.Index(["clean", "finetune/vgg16/last_block/none", "finetune/vgg16/last_block/pgd", "ensemble"],
                   name="source"))


def test_robustness_table_white_box_rows_and_transfer_rows_for_models_without_gradient():
    table = report.robustness_table(RESULTS, TRANSFER, SETTINGS)
    assert list(table.columns) == ["Family", "Model", "Attack", "Mode", "eps 0/255", "eps 2/255", "eps 8/255"]
    vgg = table[(table.Model == "vgg16/last_block/none") & (table.Attack == "pgd")].iloc[0]
    assert vgg.Mode == report.WHITE_BOX and vgg["eps 8/255"] == 0.0
    assert table[table.Family == "ensemble"].Model.tolist() == [report.SURROGATE, "majority_vote"]
    vote = table[table.Model == "majority_vote"].iloc[0]
    assert (vote["eps 0/255"], vote["eps 2/255"]) == (0.93, 0.35) and np.isnan(vote["eps 8/255"])
    assert "surrogate" in vote.Mode
    svm = table[table.Model == "svm"].iloc[0]
    assert (svm["eps 0/255"], svm["eps 2/255"]) == (0.85, 0.4)  # the strongest fine-tuned source
    assert "strongest" in svm.Mode


def test_adversarial_training_table_puts_robust_variants_beside_their_twins_with_cost_per_epoch():
    finetune = pd.DataFrame({"architecture": ["vgg16", "vgg16"], "strategy": ["last_block"] * 2,
                             "augmentation": ["none", "pgd"], "wall_time_s": [100.0, 400.0], "epochs_run": [10, 10]})
    table = report.adversarial_training_table(RESULTS, finetune, AUGMENTATIONS, SETTINGS)
    assert table[["Augmentation", "Attack"]].values.tolist() == [["none", "fgsm"], ["none", "pgd"], ["pgd", "pgd"]]
    assert table["Adversarial Training"].tolist() == [False, False, True]
    assert table["Seconds per Epoch"].tolist() == [10.0, 10.0, 40.0]
    assert report.adversarial_training_table(RESULTS, finetune, {"none": [], "pgd": []}, SETTINGS).empty


def test_leaderboard_column_is_the_strongest_attack_at_the_headline_eps():
    board = pd.DataFrame({"Family": ["finetune", "classical", "ensemble", "finetune"],
                          "Model": ["vgg16/last_block/none", "svm", "stacking", "resnet50/x/none"]})
    table = report.robustness_table(RESULTS, TRANSFER, SETTINGS)
    column = report.add_robust_accuracy(board, table, 2)["Robust Accuracy (eps 2/255)"]
    assert column.tolist()[:2] == [0.2, 0.4] and np.isnan(column.iloc[2]) and np.isnan(column.iloc[3])


def test_transfer_table_names_the_surrogate_row():
    table = report.transfer_table(TRANSFER)
    assert table.columns[0] == "Source \\ Target"
    assert table.iloc[-1, 0] == f"ensemble {report.SURROGATE}"


@pytest.mark.parametrize("kind", ["curves", "matrix", "examples"])
def test_plots_are_written(tmp_path, kind):
    path = tmp_path / f"{kind}.png"
    if kind == "curves":
        report.plot_accuracy_vs_eps(RESULTS[:3], path, "vgg16")
    elif kind == "matrix":
        report.plot_transfer_matrix(TRANSFER, path, "transfer")
    else:
        x = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3))
        report.plot_adversarial_examples(x, np.clip(x + 2, 0, 255), np.array([0, 1, 2, 0]),
                                         lambda images: np.arange(len(images)) % 3, ["a", "b", "c"], path, "examples")
    assert path.stat().st_size > 5000
