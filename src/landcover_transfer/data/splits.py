"""Which images fit, select and evaluate a model: the splits file, read and made without the dataset's HDF5 reader.

The aggregation rules (tables, plots) read it in an environment without h5py.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sklearn.model_selection import train_test_split

from landcover_transfer.workflow.atomic_files import atomic_path
from landcover_transfer.workflow.errors import ConfigError, DataError

if TYPE_CHECKING:
    from landcover_transfer.data.dataset import Dataset

PROTOCOLS = ("honest", "study")


@dataclass
class Splits:
    """Which images fit the model, which select it (early stopping, checkpoints, ensemble weights), which evaluate it.

    `honest`: the selection split is carved out of the training data, so the evaluation split is
    never looked at before the final evaluation. `study`: the original study's way, fitting on all
    training data and using the validation split for both selection and evaluation.
    """

    protocol: str
    fit_index: np.ndarray  # indices into the train split
    selection_split: str  # "train" or "val"
    selection_index: np.ndarray  # indices into `selection_split`
    y_selection: np.ndarray
    y_evaluation: np.ndarray
    class_names: list[str]

    def arrays(self, dataset: Dataset) -> dict:
        """The six arrays of this split: x_fit, y_fit, x_selection, y_selection, x_evaluation, y_evaluation."""
        from_train = self.selection_split == "train"
        x_sel, y_sel = (dataset.x_train, dataset.y_train) if from_train else (dataset.x_val, dataset.y_val)
        arrays = {
            "x_fit": _take(dataset.x_train, self.fit_index),
            "y_fit": _take(dataset.y_train, self.fit_index),
            "x_selection": _take(x_sel, self.selection_index),
            "y_selection": _take(y_sel, self.selection_index),
            "x_evaluation": dataset.x_val,
            "y_evaluation": dataset.y_val,
        }
        # A splits file made from another dataset would silently train and score on the wrong images.
        if not (np.array_equal(arrays["y_selection"], self.y_selection)
                and np.array_equal(arrays["y_evaluation"], self.y_evaluation)):
            raise DataError("the splits file does not match the dataset (its labels differ); rebuild the splits")
        return arrays

    def save(self, path: str | os.PathLike) -> None:
        with atomic_path(path) as tmp:
            np.savez(tmp, protocol=self.protocol, fit_index=self.fit_index, selection_split=self.selection_split,
                     selection_index=self.selection_index, y_selection=self.y_selection,
                     y_evaluation=self.y_evaluation, class_names=np.array(self.class_names, dtype=str))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Splits:
        with np.load(path, allow_pickle=False) as f:
            return cls(
                protocol=str(f["protocol"]),
                fit_index=f["fit_index"],
                selection_split=str(f["selection_split"]),
                selection_index=f["selection_index"],
                y_selection=f["y_selection"],
                y_evaluation=f["y_evaluation"],
                class_names=[str(name) for name in f["class_names"]],
            )


def make_splits(dataset: Dataset, protocol: str, selection_fraction: float, seed: int) -> Splits:
    """Split the data for `protocol` ("honest" or "study"); see `Splits`."""
    n_train, n_classes = len(dataset.y_train), len(dataset.class_names)
    if protocol == "study":
        fit_index, selection_split, selection_index = np.arange(n_train), "val", np.arange(len(dataset.y_val))
    elif protocol == "honest":
        if not 0 < selection_fraction < 1:
            raise ConfigError(f"selection_fraction must be between 0 and 1, got {selection_fraction}")
        n_selection = math.ceil(selection_fraction * n_train)  # how train_test_split rounds test_size
        if n_selection < n_classes or n_train - n_selection < n_classes:
            raise ConfigError(
                f"selection_fraction {selection_fraction} of {n_train} training images gives a selection split of "
                f"{n_selection} and a fit split of {n_train - n_selection} images, but each needs at least one image "
                f"per class ({n_classes} classes); use a fraction between {n_classes / n_train:.3g} and "
                f"{1 - n_classes / n_train:.3g}")
        try:
            fit_index, selection_index = train_test_split(
                np.arange(n_train), test_size=selection_fraction, stratify=dataset.y_train, random_state=seed)
        except ValueError as error:
            raise ConfigError(f"cannot carve a stratified selection split from the training data: {error}") from error
        # Sorted, so the fit and selection arrays keep the file's order.
        fit_index, selection_index, selection_split = np.sort(fit_index), np.sort(selection_index), "train"
    else:
        raise ConfigError(f"unknown split protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    y_selection = (dataset.y_train if selection_split == "train" else dataset.y_val)[selection_index]
    return Splits(protocol, fit_index, selection_split, selection_index, y_selection, dataset.y_val.copy(),
                  list(dataset.class_names))


def _take(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    # Indices are sorted and unique, so a full-length index is the whole array: skip a large copy.
    return array if len(index) == len(array) else array[index]
