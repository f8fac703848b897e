"""A scene's map against a label raster of it (Raster Vision's "eval"): the labels are read on the map's grid
(reprojected, nearest neighbour), their classes mapped to the model's, and a confusion table is summed window by
window, so that memory does not grow with the scene: the job of rule evaluate_scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from landcover_transfer.predict.scene import NODATA
from landcover_transfer.workflow.errors import DataError

IGNORED = -1  # a label value the mapping leaves out, or the label raster's nodata


def label_lookup(classes: dict | None, class_names: list[str], values: range = range(256)) -> np.ndarray:
    """Label value -> the model's class index, or IGNORED. Without a mapping the label values are the model's class
    indexes (the synthetic scene's labels.tif)."""
    lookup = np.full(len(values), IGNORED, dtype=np.int64)
    if classes is None:
        lookup[:len(class_names)] = np.arange(len(class_names))
        return lookup
    unknown = sorted({name for name in classes.values() if name is not None} - set(class_names))
    if unknown:
        raise DataError(f"labels.classes maps to {', '.join(unknown)}, which the model does not know: use one of "
                        f"{', '.join(class_names)}, or null to leave a label value out")
    for value, name in classes.items():
        if int(value) not in values:
            raise DataError(f"labels.classes: label value {value} is outside 0..{len(values) - 1}")
        lookup[int(value)] = IGNORED if name is None else class_names.index(name)
    return lookup


def confusion(classes_path: str | Path, labels_path: str | Path, lookup: np.ndarray, n_classes: int) -> np.ndarray:
    """Pixels by (true class, predicted class or `n_classes` for unknown), over the pixels that have a label and a
    prediction."""
    table = np.zeros((n_classes, n_classes + 1), dtype=np.int64)
    with rasterio.open(classes_path) as predicted, rasterio.open(labels_path) as raw_labels:
        if raw_labels.crs is None:
            raise DataError(f"{labels_path}: the label raster has no CRS: it cannot be placed on the map's grid")
        with WarpedVRT(raw_labels, crs=predicted.crs, transform=predicted.transform, width=predicted.width,
                       height=predicted.height, resampling=Resampling.nearest, nodata=raw_labels.nodata) as labels:
            for _, window in predicted.block_windows(1):
                guess = predicted.read(1, window=window).astype(np.int64)
                truth_values = labels.read(1, window=window, masked=True)
                truth = np.where(np.ma.getmaskarray(truth_values), IGNORED,
                                 lookup[np.clip(truth_values.filled(0), 0, len(lookup) - 1).astype(np.int64)])
                keep = (truth != IGNORED) & (guess != NODATA)
                cells = truth[keep] * (n_classes + 1) + guess[keep]
                table += np.bincount(cells, minlength=table.size).reshape(table.shape)
    if not table.any():
        raise DataError(f"{labels_path}: no labelled pixel overlaps the map {classes_path}: check the label raster's "
                        "extent, CRS and nodata, and labels.classes")
    return table


def scores(table: np.ndarray, class_names: list[str]) -> tuple[dict, pd.DataFrame]:
    """Pixel agreement (unknown counts as a miss) and the agreement among the pixels given a class; precision,
    recall and pixels per class."""
    n = len(class_names)
    hits = np.diag(table[:, :n])
    labelled, predicted = table.sum(axis=1), table[:, :n].sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = pd.DataFrame({"class": class_names, "precision": hits / predicted, "recall": hits / labelled,
                                  "labelled_pixels": labelled, "predicted_pixels": predicted})
    total, known = int(table.sum()), int(table[:, :n].sum())
    summary = {"pixels": total, "agreement": hits.sum() / total, "unknown_share": 1 - known / total,
               "agreement_of_known": hits.sum() / known if known else None}
    return summary, per_class.round(6)


def confusion_frame(table: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """The confusion table with named rows (labels) and columns (predictions, then unknown)."""
    frame = pd.DataFrame(table, index=pd.Index(class_names, name="label"), columns=[*class_names, "unknown"])
    return frame.rename_axis(columns="predicted")
