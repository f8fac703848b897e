"""Tables from fake result folders: one row per metrics.json, numbers unchanged, study column."""

from __future__ import annotations

import itertools
import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from landcover_transfer.ensemble.methods import run_ensemble
from landcover_transfer.evaluation.metrics import write_evaluation
from landcover_transfer.reporting.tables import (
    average_over_seeds,
    classical_table,
    collect_metrics,
    collect_results,
    correctness_by_folder,
    ensemble_table,
    finetune_table,
    interval_headers,
    leaderboard,
    write_table,
)
from landcover_transfer.workflow.atomic_files import write_json
from landcover_transfer.workflow.errors import DataError

ARCHS = ["vgg16", "resnet50"]
STRATEGIES = ["head_only", "last_two_blocks"]
AUGS = ["none", "standard"]


def fake_classical(root):
    paths = []
    for i, model in enumerate(["xgboost", "random_forest", "svm"]):
        path = root / "classical" / model / "metrics.json"
        write_json(path, {"name": model, "accuracy": [0.80, 0.85, 0.875][i], "precision": 0.81 + i * 0.05,
                          "recall": 0.80 + i * 0.05, "f1": 0.805 + i * 0.05, "model": model,
                          "fit_time_s": 1.5 * i, "selection_accuracy": 0.79 + i * 0.05})
        paths.append(path)
    return paths


def fake_finetune(root):
    paths = []
    for k, (arch, strategy, aug) in enumerate(itertools.product(ARCHS, STRATEGIES, AUGS)):
        path = root / "finetune" / arch / strategy / aug / "metrics.json"
        write_json(path, {
            "name": f"{arch}/{strategy}/{aug}", "accuracy": 0.90 + k / 100, "precision": 0.9,
            "recall": 0.9, "f1": 0.9, "architecture": arch, "strategy": strategy, "augmentation": aug,
            "selection_accuracy": 0.91 + k / 100, "train_accuracy": 0.95 + k / 1000,
            "val_accuracy": 0.91 + k / 100, "best_epoch": k + 1, "final_train_accuracy": 0.96,
            "final_val_accuracy": 0.905, "epochs_run": k + 3, "wall_time_s": 100.25 + k,
            "trainable_params": 1000 * (k + 1),
        })
        paths.append(path)
    return paths


def fake_ensembles(root):
    paths = []
    for i, method in enumerate(["majority_vote", "stacking"]):
        path = root / "ensemble" / method / "metrics.json"
        write_json(path, {"name": method, "accuracy": [0.975, 0.985][i], "precision": 0.97, "recall": 0.97,
                          "f1": 0.97, "method": method, "members": ["vgg16/head_only/none", "resnet50/x/y"],
                          "mean_disagreement": 0.03 + i / 100})
        paths.append(path)
    return paths


def test_collect_metrics_one_row_per_file(tmp_path):
    paths = fake_finetune(tmp_path)
    df = collect_metrics(paths)
    assert len(df) == 8
    assert df["path"].tolist() == [str(p) for p in paths]
    assert collect_metrics([]).empty


def test_finetune_table_rows_values_and_order(tmp_path):
    paths = fake_finetune(tmp_path)
    raw = collect_metrics(paths[::-1])  # order of the files must not matter
    table = finetune_table(raw, architecture_order=ARCHS, strategy_order=["last_two_blocks", "head_only"],
                           augmentation_order=["standard", "none"])
    assert len(table) == 8
    assert list(table.columns) == [
        "Architecture", "Strategy", "Augmentation", "Training Accuracy", "Validation Accuracy",
        "Best Epoch", "Final Training Accuracy", "Final Validation Accuracy", "Evaluation Accuracy",
        "Epochs Run", "Wall Time (s)", "Trainable Params"]
    assert table[["Architecture", "Strategy", "Augmentation"]].head(3).values.tolist() == [
        ["vgg16", "last_two_blocks", "standard"], ["vgg16", "last_two_blocks", "none"],
        ["vgg16", "head_only", "standard"]]
    assert table["Architecture"].tolist() == ["vgg16"] * 4 + ["resnet50"] * 4
    row = table[(table["Architecture"] == "resnet50") & (table["Strategy"] == "head_only")
                & (table["Augmentation"] == "standard")].iloc[0]
    k = 5  # position of resnet50/head_only/standard in fake_finetune
    assert row["Evaluation Accuracy"] == 0.90 + k / 100
    assert row["Training Accuracy"] == 0.95 + k / 1000
    assert row["Validation Accuracy"] == 0.91 + k / 100
    assert row["Best Epoch"] == k + 1 and row["Epochs Run"] == k + 3
    assert row["Trainable Params"] == 1000 * (k + 1)
    assert row["Wall Time (s)"] == 100.25 + k


def test_classical_and_ensemble_tables(tmp_path):
    classical = classical_table(collect_metrics(fake_classical(tmp_path)), order=["svm", "xgboost"])
    assert classical["Model"].tolist() == ["svm", "xgboost", "random_forest"]
    assert list(classical.columns) == ["Model", "Accuracy", "Precision", "Recall", "F1 Score", "Fit Time (s)"]
    assert classical.set_index("Model").loc["xgboost", "F1 Score"] == 0.805
    assert classical["Fit Time (s)"].tolist() == [3.0, 0.0, 1.5]  # svm, xgboost, random_forest

    ensembles = ensemble_table(collect_metrics(fake_ensembles(tmp_path)))
    assert list(ensembles.columns) == ["Method", "Members", "Accuracy", "Precision", "Recall", "F1 Score",
                                       "Mean Disagreement", "Best Member Accuracy"]
    assert ensembles["Best Member Accuracy"].isna().all()  # their metrics carry no member accuracies
    assert ensembles["Members"].iloc[0] == "vgg16/head_only/none, resnet50/x/y"
    assert ensembles["Mean Disagreement"].tolist() == [0.03, 0.04]


def test_leaderboard_study_column_only_on_matching_rows(tmp_path):
    classical = collect_metrics(fake_classical(tmp_path))
    finetune = collect_metrics(fake_finetune(tmp_path))
    ensembles = collect_metrics(fake_ensembles(tmp_path))
    reference = {"classical/xgboost": 0.97, "finetune/vgg16/head_only/none": 0.95,
                 "ensemble/majority_vote": 0.98, "classical/not_run": 0.5}
    board = leaderboard(classical, finetune, ensembles, reference)
    assert list(board.columns) == ["Rank", "Family", "Model", "Accuracy", "Precision", "Recall", "F1 Score",
                                   "Study Accuracy"]
    assert len(board) == 3 + 8 + 2
    assert board["Accuracy"].is_monotonic_decreasing
    assert board["Rank"].tolist() == list(range(1, 14))
    assert board.iloc[0][["Family", "Model"]].tolist() == ["ensemble", "stacking"]
    ids = (board["Family"] + "/" + board["Model"]).tolist()
    for i, row_id in enumerate(ids):
        study = board["Study Accuracy"].iloc[i]
        if row_id in reference:
            assert study == reference[row_id]
        else:
            assert math.isnan(study)
    assert board["Study Accuracy"].notna().sum() == 3
    # numbers are the metrics.json values
    xgb = board[board["Model"] == "xgboost"].iloc[0]
    assert (xgb["Accuracy"], xgb["Precision"]) == (0.80, 0.81)


def test_leaderboard_with_missing_families_and_tied_ranks():
    classical = pd.DataFrame([{"model": "a", "accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1": 0.9},
                              {"model": "b", "accuracy": 0.9, "precision": 0.8, "recall": 0.8, "f1": 0.8}])
    board = leaderboard(classical, None, pd.DataFrame(), None)
    assert board["Rank"].tolist() == [1, 1]
    assert board["Model"].tolist() == ["a", "b"]
    assert board["Study Accuracy"].isna().all()
    assert leaderboard(None, None, None, {}).empty


def test_write_table_csv_and_markdown(tmp_path):
    table = finetune_table(collect_metrics(fake_finetune(tmp_path / "r")), ARCHS, STRATEGIES, AUGS)
    table.loc[0, "Wall Time (s)"] = np.nan
    csv_path, md_path = tmp_path / "out" / "t.csv", tmp_path / "out" / "t.md"
    write_table(table, csv_path, md_path)
    md = md_path.read_text()
    header = md.splitlines()[0]
    assert header.startswith("| Architecture") and "Evaluation Accuracy" in header and "Trainable Params" in header
    assert len(md.strip().splitlines()) == 2 + 8
    assert "0.9000" in md and "nan" not in md.lower()
    back = pd.read_csv(csv_path)
    assert len(back) == 8
    assert np.isnan(back.loc[0, "Wall Time (s)"])
    np.testing.assert_allclose(back["Evaluation Accuracy"], table["Evaluation Accuracy"], atol=5e-5)
    assert back["Trainable Params"].tolist() == table["Trainable Params"].tolist()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["t.csv", "t.md"]  # no temp files left


def test_ensemble_result_folder_round_trip(tmp_path):
    """run_ensemble's info goes through write_evaluation into a row of ensemble_table."""
    rng = np.random.default_rng(0)
    y_sel, y_ev = rng.integers(0, 3, 40), rng.integers(0, 3, 30)
    sel = [rng.dirichlet(np.ones(3), 40) for _ in range(3)]
    ev = [rng.dirichlet(np.ones(3), 30) for _ in range(3)]
    proba, _, info = run_ensemble("majority_vote", ["a", "b", "c"], sel, ev, y_sel, y_ev, {})
    folder = tmp_path / "ensemble" / "majority_vote"
    outputs = SimpleNamespace(**{name: folder / f"{name}{suffix}" for name, suffix in (
        ("metrics", ".json"), ("report", ".csv"), ("confusion", ".png"), ("proba_evaluation", ".npy"))})
    metrics = write_evaluation(outputs, name="majority_vote", y_true=y_ev, proba_evaluation=proba,
                               class_names=["x", "y", "z"], extra=info)
    assert sorted(path.name for path in folder.iterdir()) == sorted(str(p.name) for p in vars(outputs).values())
    table = ensemble_table(collect_metrics([outputs.metrics]))
    assert table["Members"].iloc[0] == "a, b, c"
    assert table["Accuracy"].iloc[0] == pytest.approx(metrics["accuracy"])
    assert table["Mean Disagreement"].iloc[0] == pytest.approx(info["mean_disagreement"])
    best = max(np.mean(p.argmax(axis=1) == y_ev) for p in ev)
    assert table["Best Member Accuracy"].iloc[0] == pytest.approx(best)


def test_honest_protocol_headers_name_the_selection_split(tmp_path):
    raw = collect_metrics(fake_finetune(tmp_path))
    holdout = finetune_table(raw, protocol="honest")
    assert "Validation Accuracy (selection split)" in holdout.columns
    assert "Final Validation Accuracy (selection split)" in holdout.columns
    assert "Validation Accuracy" not in holdout.columns
    study = finetune_table(raw)
    assert holdout["Validation Accuracy (selection split)"].tolist() == study["Validation Accuracy"].tolist()
    assert list(finetune_table(raw, protocol="study").columns) == list(finetune_table(raw).columns)


def test_write_table_formats_each_column_and_writes_an_html_page(tmp_path):
    table = finetune_table(collect_metrics(fake_finetune(tmp_path / "r")), ARCHS, STRATEGIES, AUGS)
    table.loc[1, "Wall Time (s)"] = 61.2
    write_table(table, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.html",
                title="Table 5 (synthetic demo data)")
    csv_rows = (tmp_path / "t.csv").read_text().splitlines()
    assert csv_rows[2].split(",")[table.columns.get_loc("Wall Time (s)")] == "61.2"  # seconds: one decimal
    accuracy = table.loc[1, "Evaluation Accuracy"]
    assert csv_rows[2].split(",")[table.columns.get_loc("Evaluation Accuracy")] == f"{accuracy:.4f}"
    md = (tmp_path / "t.md").read_text()
    assert md.startswith("**Table 5 (synthetic demo data)**") and re.search(r"\| +61\.2 \|", md)
    page = (tmp_path / "t.html").read_text()
    assert "<h3>Table 5 (synthetic demo data)</h3>" in page and "<title>Table 5 (synthetic demo data)</title>" in page
    assert page.count("<tr>") == len(table) + 1
    assert '<td id="T_table_row1_col10" class="data row1 col10 number" >61.2</td>' in page  # right-aligned


def test_ensemble_members_one_per_line_in_markdown_and_html(tmp_path):
    table = ensemble_table(collect_metrics(fake_ensembles(tmp_path / "r")))
    write_table(table, tmp_path / "e.csv", tmp_path / "e.md", tmp_path / "e.html", multiline=["Members"])
    assert "vgg16/head_only/none<br>resnet50/x/y" in (tmp_path / "e.md").read_text()
    assert "vgg16/head_only/none<br>resnet50/x/y" in (tmp_path / "e.html").read_text()
    assert pd.read_csv(tmp_path / "e.csv")["Members"].iloc[0] == "vgg16/head_only/none, resnet50/x/y"  # all ids


# --- accuracy intervals -------------------------------------------------------------------------


def hand_wilson(right: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson (1927) score interval, written out: centre (p + z^2/2n) / (1 + z^2/n), half-width
    z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2); z is the normal quantile of 0.975."""
    p, n = right / total, total
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def with_probabilities(metrics_paths, rights, y_true):
    """Give each result folder a proba_evaluation.npy with `rights[i]` right answers (the first ones) and set its
    metrics.json accuracy to match; returns the probability paths."""
    n_classes, paths = int(y_true.max()) + 1, []
    for path, right in zip(metrics_paths, rights, strict=True):
        predicted = np.where(np.arange(len(y_true)) < right, y_true, (y_true + 1) % n_classes)
        path = path.parent / "proba_evaluation.npy"
        np.save(path, np.eye(n_classes, dtype=np.float32)[predicted])
        metrics = {**collect_metrics([path.parent / "metrics.json"]).iloc[0].drop("path").to_dict(),
                   "accuracy": right / len(y_true)}
        write_json(path.parent / "metrics.json", metrics)
        paths.append(path)
    return paths


def test_tables_show_the_wilson_interval_of_each_row_after_sorting(tmp_path):
    y = np.arange(200) % 3
    finetune_paths = fake_finetune(tmp_path)
    rights = [150 + 5 * k for k in range(len(finetune_paths))]
    probas = with_probabilities(finetune_paths, rights, y)
    results = collect_results(finetune_paths[::-1], correctness_by_folder(probas, y), 0.95)
    table = finetune_table(results, ARCHS, ["last_two_blocks", "head_only"], AUGS, level=0.95)
    columns = list(table.columns)
    position = columns.index("Evaluation Accuracy")
    assert columns[position + 1: position + 3] == ["95% CI Low (Wilson)", "95% CI High (Wilson)"]
    for _, row in table.iterrows():  # the interval follows its own row through the sort
        right = round(row["Evaluation Accuracy"] * 200)
        assert (row["95% CI Low (Wilson)"], row["95% CI High (Wilson)"]) == pytest.approx(hand_wilson(right, 200))
    assert interval_headers(0.9) == {"accuracy_low": "90% CI Low (Wilson)", "accuracy_high": "90% CI High (Wilson)"}


def test_leaderboard_classical_and_ensemble_tables_carry_the_intervals(tmp_path):
    y = np.arange(120) % 4
    families = {"classical": fake_classical(tmp_path), "finetune": fake_finetune(tmp_path),
                "ensemble": fake_ensembles(tmp_path)}
    all_paths = [path for paths in families.values() for path in paths]
    probas = with_probabilities(all_paths, [60 + 3 * i for i in range(len(all_paths))], y)
    correct = correctness_by_folder(probas, y)
    frames = {family: collect_results(paths, correct, 0.95) for family, paths in families.items()}
    board = leaderboard(frames["classical"], frames["finetune"], frames["ensemble"], level=0.95)
    assert list(board.columns[:6]) == ["Rank", "Family", "Model", "Accuracy", "95% CI Low (Wilson)",
                                       "95% CI High (Wilson)"]
    for _, row in board.iterrows():
        assert (row["95% CI Low (Wilson)"], row["95% CI High (Wilson)"]) == pytest.approx(
            hand_wilson(round(row["Accuracy"] * 120), 120))
    for table in (classical_table(frames["classical"], level=0.95), ensemble_table(frames["ensemble"], level=0.95)):
        after = list(table.columns).index("Accuracy") + 1
        assert list(table.columns[after:after + 2]) == ["95% CI Low (Wilson)", "95% CI High (Wilson)"]
        assert (table["95% CI Low (Wilson)"] < table["Accuracy"]).all()
        assert (table["Accuracy"] < table["95% CI High (Wilson)"]).all()
    with pytest.raises(ValueError, match="confidence level"):
        classical_table(frames["classical"])


def test_collect_results_needs_each_folder_s_probabilities(tmp_path):
    paths = fake_classical(tmp_path)
    with pytest.raises(DataError, match="no proba_evaluation.npy among the inputs for"):
        collect_results(paths, {}, 0.95)


def seeded_runs(root, seeds, y):
    """fake_finetune's variants trained with each of `seeds` (folders .../seed{n}/), with probabilities whose right
    answers differ per seed."""
    paths, rights = [], []
    for number, seed in enumerate(seeds):
        for k, path in enumerate(fake_finetune(root / f"s{seed}")):
            metrics = collect_metrics([path]).iloc[0].drop("path").to_dict()
            seeded = root / "finetune" / metrics["name"] / f"seed{seed}" / "metrics.json"
            write_json(seeded, {**metrics, "seed": seed, "wall_time_s": 10.0 * (number + 1)})
            paths.append(seeded)
            rights.append(100 + 10 * k + 7 * number)
    order = sorted(range(len(paths)), key=lambda i: (str(paths[i].parent.parent), seeds.index(
        int(paths[i].parent.name.removeprefix("seed")))))
    paths = [paths[i] for i in order]
    return paths, with_probabilities(paths, [rights[i] for i in order], y)


def test_average_over_seeds_gives_mean_spread_count_and_a_bootstrap_interval(tmp_path):
    y = np.arange(200) % 3
    paths, probas = seeded_runs(tmp_path, [42, 7], y)
    runs = collect_results(paths, correctness_by_folder(probas, y), 0.95)
    variants = average_over_seeds(runs, 0.95, 1000, 0)
    assert len(variants) == len(ARCHS) * len(STRATEGIES) * len(AUGS) and "seed" not in variants
    for _, row in variants.iterrows():
        mine = runs[(runs.architecture == row.architecture) & (runs.strategy == row.strategy)
                    & (runs.augmentation == row.augmentation)]
        assert list(mine["seed"]) == [42, 7] and row["seeds"] == 2
        assert row["accuracy"] == pytest.approx(mine["accuracy"].mean())
        assert row["accuracy_std"] == pytest.approx(np.std(mine["accuracy"], ddof=1))
        assert row["wall_time_s"] == pytest.approx(15.0)
        assert row["path"] == mine["path"].iloc[0]  # the first seed's folder (its learning curves)
        np.testing.assert_allclose(row["correct"], np.mean(np.stack(mine["correct"].to_list()), axis=0))
        assert row["accuracy_low"] < row["accuracy"] < row["accuracy_high"]
    table = finetune_table(variants, ARCHS, STRATEGIES, AUGS, level=0.95)
    assert {"Evaluation Accuracy Std", "Seeds", "95% CI Low (Wilson; seed means: bootstrap)"} <= set(table.columns)
    assert (table["Seeds"] == 2).all()
    board = leaderboard(None, variants, None, level=0.95)
    assert {"Accuracy Std", "Seeds"} <= set(board.columns)
    assert not {"Evaluation Accuracy Std", "Seeds"} & set(finetune_table(
        average_over_seeds(runs[runs.seed == 42], 0.95, 1000, 0), ARCHS, STRATEGIES, AUGS, level=0.95).columns)


def test_a_single_seed_keeps_its_row_and_wilson_interval(tmp_path):
    y = np.arange(200) % 3
    paths, probas = seeded_runs(tmp_path, [42], y)
    runs = collect_results(paths, correctness_by_folder(probas, y), 0.95)
    variants = average_over_seeds(runs, 0.95, 1000, 0)
    pd.testing.assert_frame_equal(variants.drop(columns=["seeds", "accuracy_std", "correct"]),
                                  runs.drop(columns=["seed", "correct"]))
    assert (variants["seeds"] == 1).all() and variants["accuracy_std"].isna().all()


def test_table_4_shows_the_accuracy_over_seeds_of_models_with_randomness(tmp_path):
    raw = collect_metrics(fake_classical(tmp_path))
    raw["seed_accuracies"] = [{"42": 0.8, "7": 0.9}, None, {"42": 0.85, "7": 0.85}]
    table = classical_table(raw).set_index("Model")
    assert table.loc["xgboost", "Accuracy over Seeds (mean)"] == pytest.approx(0.85)
    assert table.loc["xgboost", "Accuracy over Seeds (std)"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert table.loc["xgboost", "Seeds"] == 2 and table.loc["svm", "Accuracy over Seeds (std)"] == 0
    assert pd.isna(table.loc["random_forest", "Seeds"]) and pd.isna(table.loc["random_forest",
                                                                               "Accuracy over Seeds (mean)"])
    assert "Seeds" not in classical_table(collect_metrics(fake_classical(tmp_path / "one_seed"))).columns
