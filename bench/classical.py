"""Classical models: fit time of each on features of the study's size (synthetic), and XGBoost's configured
settings vs `hist` with `max_bin` and early stopping on the selection split, with the accuracy of each on a finished
run's real features (e.g. the demo's)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.common import summary_row
from landcover_transfer.classical.estimators import fit_model, full_proba, stops_early
from landcover_transfer.data.splits import Splits

FAST_XGBOOST = "xgboost_fast"


def synthetic_features(rows: int, dims: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative, partly zero features with a class signal, like a frozen base's pooled ReLU outputs."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(rows) % classes)
    centres = rng.normal(0.0, 1.0, (classes, dims)).astype(np.float32)
    noise = rng.standard_normal((rows, dims), dtype=np.float32)
    return np.maximum(0.0, noise + 0.5 * centres[labels]), labels


def fast_xgboost(spec: dict, max_bin: int, early_stopping_rounds: int) -> dict:
    """The configured XGBoost with fewer histogram bins and early stopping on the selection split."""
    params = {**spec.get("params", {}), "tree_method": "hist", "max_bin": max_bin,
              "early_stopping_rounds": early_stopping_rounds}
    return {**spec, "params": params}


def candidate_models(config: dict, max_bin: int, early_stopping_rounds: int) -> dict[str, dict]:
    """The config's classical models plus the fast XGBoost setting beside each XGBoost model."""
    models = dict(config["classical"]["models"])
    for name, spec in config["classical"]["models"].items():
        if spec["estimator"] == "XGBClassifier":
            models[FAST_XGBOOST if name == "xgboost" else f"{name}_fast"] = fast_xgboost(spec, max_bin,
                                                                                       early_stopping_rounds)
    return models


def fit_one(spec: dict, splits: dict, threads: int | None) -> dict:
    """Fit time, boosting rounds kept (XGBoost), selection and evaluation accuracy of one model."""
    started = time.perf_counter()
    model = fit_model(spec, splits["x_fit"], splits["y_fit"], (splits["x_selection"], splits["y_selection"]), threads)
    fit_s = time.perf_counter() - started
    estimator = model.steps[-1][1]
    rounds = (getattr(estimator, "best_iteration", None) if stops_early(spec) else None)
    n_classes = int(max(splits["y_fit"].max(), splits["y_evaluation"].max())) + 1

    def accuracy(split: str) -> float:
        proba = full_proba(model, splits[f"x_{split}"], n_classes)
        return float(np.mean(proba.argmax(axis=1) == splits[f"y_{split}"]))

    return {"estimator": spec["estimator"], "params": str(spec.get("params", {})), "fit_s": fit_s,
            "rounds": spec.get("params", {}).get("n_estimators") if rounds is None else rounds + 1,
            "selection_accuracy": accuracy("selection"), "evaluation_accuracy": accuracy("evaluation")}


def synthetic_splits(rows: int, dims: int, classes: int, selection_fraction: float) -> dict:
    """`rows` fit rows plus the selection and evaluation rows the study's protocol adds to them."""
    n_selection = round(rows * selection_fraction / (1 - selection_fraction))
    x, y = synthetic_features(rows + 2 * n_selection, dims, classes)
    parts = dict(zip(("fit", "selection", "evaluation"), np.split(np.arange(len(y)), [rows, rows + n_selection]),
                     strict=True))
    return {f"{key}_{split}": array[index] for split, index in parts.items() for key, array in (("x", x), ("y", y))}


def run_features(features_npz: str | Path, splits_npz: str | Path) -> dict:
    """The fit, selection and evaluation features of a finished run (results/features, results/data)."""
    features, splits = np.load(features_npz), Splits.load(splits_npz)
    pool = features["train"] if splits.selection_split == "train" else features["val"]
    return {"x_fit": features["train"][splits.fit_index], "y_fit": features["y_train"][splits.fit_index],
            "x_selection": pool[splits.selection_index], "y_selection": splits.y_selection,
            "x_evaluation": features["val"], "y_evaluation": splits.y_evaluation}


def classical_fits(config: dict, rows: int, dims: int, threads: int | None, max_bin: int, early_stopping_rounds: int,
                   run_dir: str | Path | None = None) -> tuple[list[dict], list[dict]]:
    """Every model on the synthetic study-size features, the XGBoost settings also on `run_dir`'s features."""
    models = candidate_models(config, max_bin, early_stopping_rounds)
    data = {f"synthetic {rows} x {dims}": synthetic_splits(rows, dims, 9, config["evaluation"]["selection_fraction"])}
    if run_dir is not None and (Path(run_dir) / "results/features/features.npz").is_file():
        data[f"features of {run_dir}"] = run_features(Path(run_dir) / "results/features/features.npz",
                                                       Path(run_dir) / "results/data/splits.npz")
    rows_out = []
    for label, splits in data.items():
        for name, spec in models.items():
            if label.startswith("synthetic") or spec["estimator"] == "XGBClassifier":
                rows_out.append({"features": label, "model": name, **fit_one(spec, splits, threads)})
    return rows_out, xgboost_summary(rows_out)


def xgboost_summary(rows: list[dict]) -> list[dict]:
    """Configured vs fast XGBoost: fit time on the study-size features, accuracy on a real run's features."""
    by = {(row["features"], row["model"]): row for row in rows}
    summary = []
    for features in dict.fromkeys(row["features"] for row in rows):
        current, fast = by.get((features, "xgboost")), by.get((features, FAST_XGBOOST))
        if not (current and fast):
            continue
        faster = fast["fit_s"] < current["fit_s"]
        loses = fast["evaluation_accuracy"] < current["evaluation_accuracy"]
        summary.append(summary_row(
            f"XGBoost fit time, {features}", "configured", "hist + max_bin + early stopping", current["fit_s"],
            fast["fit_s"], "seconds", "faster, same accuracy", faster and not loses,
            f"evaluation accuracy {current['evaluation_accuracy']:.4f} -> {fast['evaluation_accuracy']:.4f}, "
            f"rounds {current['rounds']} -> {fast['rounds']}", higher_is_better=False))
    return summary
