"""The study's evaluation, shared by every model family: metrics, per-class report, confusion matrix.

Every result folder (classical model, fine-tuned variant, ensemble) holds the same files, written by
`write_evaluation`, so the tables and the report can treat all of them alike:
`metrics.json`, `report.csv`, `confusion.png`, `proba_evaluation.npy` (and `proba_selection.npy`
where the model has predictions on the selection split).
"""

from __future__ import annotations

import logging
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    accuracy_score,
    classification_report,
    confusion_matrix,
    precision_recall_fscore_support,
)

from landcover_transfer.workflow.atomic_files import atomic_path, write_json, write_npy  # noqa: E402
from landcover_transfer.workflow.jobs import job_provenance  # noqa: E402

log = logging.getLogger(__name__)


def summary_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Accuracy and weighted precision/recall/F1, the columns of the study's Table 4."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="weighted", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """The study's per-class classification report as a table (rows: classes, then averages)."""
    labels = list(range(len(class_names)))
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=class_names, output_dict=True, zero_division=0
    )
    table = pd.DataFrame(report).T
    table.index.name = "class"
    return table


def plot_confusion_matrix(cm: np.ndarray, class_names: list[str], title: str, path: str | os.PathLike) -> None:
    """Heat map of a confusion matrix with counts in the cells, like the study's Figure 1."""
    size = max(5.0, 0.6 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title(title)
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > threshold else "black", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def write_evaluation(
    outputs,
    *,
    name: str,
    y_true: np.ndarray,
    proba_evaluation: np.ndarray,
    class_names: list[str],
    proba_selection: np.ndarray | None = None,
    extra: dict | None = None,
    note: str = "",
) -> dict:
    """Evaluate class probabilities on the evaluation split and write the standard result files.

    `outputs` names the files (the rule's declared `snakemake.output`, or any object with the same
    attributes): `metrics`, `report`, `confusion`, `proba_evaluation`, and `proba_selection` where the rule
    declares it. Returns the metrics dict written to `metrics`: `name`, the summary metrics, then `extra`, and
    inside a job `provenance` (`provenance.provenance`: config entries, software, git, device).
    `note` (e.g. "synthetic demo data") goes in the confusion matrix's title.
    """
    y_pred = np.asarray(proba_evaluation).argmax(axis=1)
    metrics = {"name": name, **summary_metrics(y_true, y_pred), **(extra or {})}
    record = job_provenance()
    if record is not None:
        metrics["provenance"] = record
    cm = confusion_matrix(y_true, y_pred, labels=list(range(len(class_names))))

    write_npy(outputs.proba_evaluation, np.asarray(proba_evaluation, dtype=np.float32))
    if proba_selection is not None:
        write_npy(outputs.proba_selection, np.asarray(proba_selection, dtype=np.float32))
    with atomic_path(outputs.report) as tmp:
        per_class_report(y_true, y_pred, class_names).to_csv(tmp, float_format="%.4f")
    details = ", ".join(filter(None, [f"accuracy {metrics['accuracy']:.4f}", note]))
    plot_confusion_matrix(cm, class_names, f"{name} ({details})", outputs.confusion)
    write_json(outputs.metrics, metrics)  # last: its presence means the folder is complete
    log.info("%s on the evaluation split: %s", name,
             ", ".join(f"{key} {metrics[key]:.4f}" for key in ("accuracy", "precision", "recall", "f1")))
    return metrics


def result_line(metrics: dict) -> str:
    """The terminal's line for a finished model: family, name and evaluation accuracy."""
    return f"{metrics['family']} {metrics['name']}: evaluation accuracy {metrics['accuracy']:.4f}"
