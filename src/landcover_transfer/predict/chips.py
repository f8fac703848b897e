"""A folder (or .zip) of image chips classified: the EuroSAT release's layout (a folder per class, whose name is
then each chip's label) or any other, read as the training's images are (RGB, 8-bit, the training's size): the
job of rule predict_chips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from landcover_transfer.data.eurosat import IMAGE_SUFFIXES, open_image_archive, read_images
from landcover_transfer.workflow.errors import DataError

UNKNOWN = "unknown"
CHUNK = 4096  # chips converted to float32 at a time (the whole EuroSAT release at once would be 1.3 GB)


def chip_names(names: list[str]) -> list[str]:
    """The image files among an archive's names, at any depth, hidden entries (`._x.jpg`, `.DS_Store`) skipped."""
    return sorted(name for name in names if name.lower().endswith(IMAGE_SUFFIXES)
                  and not any(part.startswith(".") for part in name.split("/")))


def read_chips(source: str | Path, size: int) -> tuple[list[str], np.ndarray]:
    """The chips' names (relative, '/'-separated) and pixels (n, size, size, 3) uint8; one error listing every chip
    that is unreadable or not size x size."""
    with open_image_archive(Path(source)) as (names, read):
        files = chip_names(names)
        if not files:
            raise DataError(f"{source}: no image file ({', '.join(IMAGE_SUFFIXES)}) in it: give a folder or .zip of "
                            "image chips")
        return files, read_images(Path(source), list(enumerate(files)), read, size)


def chip_table(files: list[str], probabilities: np.ndarray, class_names: list[str],
               unknown_below: float | None) -> pd.DataFrame:
    """One row per chip: its file, its folder (the label in the release's layout), the top class (`unknown` below
    the threshold), that class's probability and every class's."""
    top = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    names = np.array(class_names, dtype=object)[top]
    if unknown_below is not None:
        names[confidence < unknown_below] = UNKNOWN
    table = pd.DataFrame({"file": files, "folder": [str(Path(f).parent) if "/" in f else "" for f in files],
                          "class": names, "probability": confidence.round(6)})
    return pd.concat([table, pd.DataFrame(probabilities.round(6), columns=[f"p_{c}" for c in class_names])], axis=1)


def chip_summary(table: pd.DataFrame, class_names: list[str]) -> dict:
    """Chips per class, and the accuracy over the chips whose folder names a class (the release's layout)."""
    labelled = table[table["folder"].map(lambda folder: Path(folder).name in class_names)]
    summary = {"chips": len(table), "classes": table["class"].value_counts().reindex(
        [*class_names, UNKNOWN], fill_value=0).to_dict(), "labelled_chips": len(labelled)}
    if len(labelled):
        summary["accuracy"] = float((labelled["folder"].map(lambda f: Path(f).name) == labelled["class"]).mean())
    return summary


def classify_chips(source: str | Path, load_models: Callable[[], list], model_names: list[str],
                   class_names: list[str], settings: dict) -> tuple[pd.DataFrame, dict]:
    """The table and summary of a chip folder; the models (`load_models()`) first: their input size is the chips'."""
    from landcover_transfer.predict.maps import check_models
    from landcover_transfer.predict.scene import window_predictor

    models = load_models()
    size = check_models(models, model_names, class_names)
    files, pixels = read_chips(source, size)
    predict = window_predictor(models, settings["batch_size"], settings["test_time_augmentation"])
    probabilities = np.concatenate([predict(pixels[start:start + CHUNK].astype(np.float32))
                                    for start in range(0, len(pixels), CHUNK)])
    table = chip_table(files, probabilities, class_names, settings["unknown_below"])
    return table, chip_summary(table, class_names)
