"""The recipe's ablation table (config `ablation`): each row a fine-tuning variant over all its seeds, its evaluation
accuracy as mean and standard deviation over the seeds, its seconds per epoch, and the change from the row before;
then the per-class report of the row marked final (the recipe).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

COLUMNS = ["Step", "Variant", "TTA", "Batch size", "Seeds", "Accuracy (mean)", "Accuracy (std)",
           "Change from the step before", "Seconds per epoch", "Best epoch (mean)"]


def seconds_per_epoch(history: pd.DataFrame) -> float:
    """Mean seconds of a training's epochs after its first (which also traces the graph)."""
    seconds = history["seconds"].to_numpy(dtype=float)
    return float(seconds[1:].mean() if len(seconds) > 1 else seconds.mean())


def ablation_table(rows: Sequence[dict], metrics: Sequence[Sequence[dict]],
                   histories: Sequence[Sequence[pd.DataFrame]], batch_sizes: Sequence[int]) -> pd.DataFrame:
    """One line per row from its seeds' metrics.json contents and training histories, and its batch size (each in
    the order of `rows`). A side row (`side: true`) changes from the step before it but is no step itself: the row
    after it changes from that same step."""
    lines, previous = [], None
    for row, row_metrics, row_histories, batch_size in zip(rows, metrics, histories, batch_sizes, strict=True):
        accuracy = np.array([m["accuracy"] for m in row_metrics])
        mean = float(accuracy.mean())
        lines.append({
            "Step": row["label"], "Variant": row["variant"],
            "TTA": "8 views" if row.get("test_time_augmentation") else "", "Batch size": batch_size,
            "Seeds": len(accuracy),
            "Accuracy (mean)": mean, "Accuracy (std)": float(accuracy.std(ddof=1)) if len(accuracy) > 1 else np.nan,
            "Change from the step before": np.nan if previous is None else mean - previous,
            "Seconds per epoch": float(np.mean([seconds_per_epoch(h) for h in row_histories])),
            "Best epoch (mean)": float(np.mean([m["best_epoch"] for m in row_metrics])),
        })
        if not row.get("side"):
            previous = mean
    return pd.DataFrame(lines, columns=COLUMNS)


def per_class_over_seeds(reports: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Per-class reports (report.csv, indexed by class) of one variant's seeds, averaged cell by cell."""
    return sum(reports) / len(reports)


def training_settings(training: dict) -> str:
    """What every row shares of config `training` (epochs, early stopping), in words."""
    epochs, stopping = training["epochs"], training["early_stopping"]
    metric = stopping["monitor"].removeprefix("val_")
    stops = ("never stops early" if stopping["patience"] >= epochs
             else f"stops after {stopping['patience']} epochs without a better selection-split {metric}")
    return (f"Every row trains at most {epochs} epochs and {stops}; its "
            f"checkpoint is its epoch of best selection-split {metric}.")


def recipe_markdown(table: pd.DataFrame, title: str, training: dict, final: dict | None = None,
                    per_class: pd.DataFrame | None = None) -> str:
    """The ablation table, then the final row's per-class report, as Markdown."""
    shown = table.copy()
    for column, form in (("Accuracy (mean)", "{:.1f}"), ("Accuracy (std)", "{:.1f}"),
                         ("Change from the step before", "{:+.1f}")):
        shown[column] = shown[column].map(lambda v, form=form: "" if pd.isna(v) else form.format(100 * v))
    shown["Seconds per epoch"] = shown["Seconds per epoch"].map("{:.1f}".format)
    shown["Best epoch (mean)"] = shown["Best epoch (mean)"].map("{:.1f}".format)
    parts = [f"# {title}", "", "Accuracies in percent of the evaluation split; mean and sample standard deviation "
             "over the seeds; seconds per epoch without the first epoch (graph tracing). "
             + training_settings(training), "",
             shown.to_markdown(index=False, disable_numparse=True)]
    if final is not None and per_class is not None:
        evaluated = " with test-time augmentation" if final.get("test_time_augmentation") else ""
        parts += ["", f"## The recipe per class: {final['variant']}{evaluated} (mean over the seeds)", "",
                  per_class.to_markdown(floatfmt=".3f")]
    return "\n".join(parts) + "\n"
