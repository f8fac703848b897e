"""The study's dataset: loading the course HDF5 file (whatever its key names) and writing one.

`load_dataset` checks everything a later step would trip over (shapes, labels, classes) and reports
each problem as one `DataError` naming the file and the key, so a bad file fails in seconds with a
clear message instead of hours later inside a training run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from landcover_transfer.workflow.atomic_files import atomic_path
from landcover_transfer.workflow.errors import ConfigError, DataError

ARRAY_KEYS = ("x_train", "y_train", "x_val", "y_val")
CLASS_NAME_KEYS = ("class_names", "classes", "label_names")

# Key layouts seen in course files; "{s}" is the split name. Tried in order, first complete one wins.
_LAYOUTS = (
    ("X_{s}", "y_{s}"),
    ("x_{s}", "y_{s}"),
    ("X_{s}", "Y_{s}"),
    ("{s}_images", "{s}_labels"),
    ("{s}/images", "{s}/labels"),
    ("{s}/x", "{s}/y"),
    ("{s}/X", "{s}/y"),
)
_VAL_NAMES = ("val", "valid", "validation", "test")


@dataclass
class Dataset:
    x_train: np.ndarray  # (N, H, W, 3): uint8, or float32 already scaled to 0..255
    y_train: np.ndarray  # (N,) int64 class indices
    x_val: np.ndarray
    y_val: np.ndarray
    class_names: list[str]


def load_dataset(
    path: str | os.PathLike,
    keys: dict | None = None,
    class_names: list[str] | None = None,
    expected_classes: int | None = None,
) -> Dataset:
    """Read and validate a study-shaped HDF5 file.

    `keys` names the HDF5 paths explicitly (x_train, y_train, x_val, y_val, optional class_names);
    without it the common layouts are detected. Class names come from the file if it has them,
    else from `class_names`, else `class_0..class_{C-1}`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with h5py.File(path, "r") as f:
            keys = _resolve_keys(f, path, keys)
            raw = {name: _read(f, path, keys[name]) for name in ARRAY_KEYS}
            names, names_source = _file_class_names(f, path, keys.get("class_names"))
    except OSError as error:  # h5py's way of saying "not HDF5", "truncated" or "corrupt"
        raise DataError(f"{path}: cannot read it as HDF5 (not an HDF5 file, or truncated/corrupt): {error}") from error

    x_train, unit_train = _images(path, keys["x_train"], raw["x_train"])
    x_val, unit_val = _images(path, keys["x_val"], raw["x_val"])
    if x_train.shape[1:] != x_val.shape[1:]:
        raise DataError(f"{path}: train images ('{keys['x_train']}') are {_size(x_train)} but validation images "
                        f"('{keys['x_val']}') are {_size(x_val)}; both splits must have the same image size")
    if unit_train != unit_val:
        scales = {True: "0..1", False: "0..255"}
        raise DataError(f"{path}: '{keys['x_train']}' holds values in {scales[unit_train]} but '{keys['x_val']}' "
                        f"in {scales[unit_val]}; both splits must use the same scale")
    y_train, width_train = _labels(path, keys["y_train"], raw["y_train"], len(x_train), keys["x_train"])
    y_val, width_val = _labels(path, keys["y_val"], raw["y_val"], len(x_val), keys["x_val"])
    if width_train and width_val and width_train != width_val:
        raise DataError(f"{path}: one-hot labels have {width_train} columns in '{keys['y_train']}' but "
                        f"{width_val} in '{keys['y_val']}'; both splits must have the same classes")

    if names is None and class_names is not None:
        names, names_source = list(class_names), "the class_names given"
    n_classes, source = _count_classes(path, keys, names, names_source, expected_classes, width_train or width_val)
    if n_classes is None:
        n_classes, source = int(max(y_train.max(), y_val.max())) + 1, "the largest label"
    names = names or [f"class_{i}" for i in range(n_classes)]
    for key, y in ((keys["y_train"], y_train), (keys["y_val"], y_val)):
        _check_classes(path, key, y, names, source)
    return Dataset(x_train, y_train, x_val, y_val, names)


def load_configured_dataset(path: str | os.PathLike, data_config: dict) -> Dataset:
    """The dataset file read with the config's explicit keys and fallback class names (`data` in the config)."""
    return load_dataset(path, keys=data_config.get("keys") or None, class_names=data_config.get("class_names"))


def write_dataset(path: str | os.PathLike, dataset: Dataset) -> None:
    """Write `dataset` as a study-shaped HDF5 file (uint8 images, int64 labels, `class_names` strings)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name in ("x_train", "x_val"):
            f.create_dataset(name, data=_to_uint8(getattr(dataset, name)))
        for name in ("y_train", "y_val"):
            f.create_dataset(name, data=np.asarray(getattr(dataset, name), dtype=np.int64))
        f.create_dataset("class_names", data=np.array(dataset.class_names, dtype=h5py.string_dtype()))


def _resolve_keys(f: h5py.File, path: Path, keys: dict | None) -> dict:
    if keys:
        missing = [name for name in ARRAY_KEYS if not keys.get(name)]
        unknown = sorted(set(keys) - set(ARRAY_KEYS) - {"class_names"})
        if missing or unknown:
            raise ConfigError(f"data.keys must name {', '.join(ARRAY_KEYS)} (and optionally class_names); "
                              + (f"missing: {', '.join(missing)}" if missing else f"unknown: {', '.join(unknown)}"))
        for name, key in keys.items():
            if key and key not in f:
                raise DataError(f"{path}: key '{key}' (data.keys.{name}) is not in the file; "
                                f"it holds: {', '.join(_all_keys(f)) or 'nothing'}")
        return dict(keys)
    for x_pattern, y_pattern in _LAYOUTS:
        for val in _VAL_NAMES:
            candidate = {"x_train": x_pattern.format(s="train"), "y_train": y_pattern.format(s="train"),
                         "x_val": x_pattern.format(s=val), "y_val": y_pattern.format(s=val)}
            if all(isinstance(f.get(key), h5py.Dataset) for key in candidate.values()):
                return candidate
    raise DataError(f"{path}: no recognisable train/validation layout; the file holds: "
                    f"{', '.join(_all_keys(f)) or 'nothing'}. Set data.keys in the config "
                    f"(x_train, y_train, x_val, y_val: the HDF5 paths of the images and labels)")


def _all_keys(f: h5py.File) -> list[str]:
    found = []
    f.visit(found.append)
    return found


def _read(f: h5py.File, path: Path, key: str) -> np.ndarray:
    if not isinstance(f[key], h5py.Dataset):
        raise DataError(f"{path}: key '{key}' is a group, not an array")
    return f[key][()]


def _file_class_names(f: h5py.File, path: Path, key: str | None) -> tuple[list[str] | None, str]:
    """Class names stored in the file, and where they were found."""
    if key:
        names = _as_strings(_read(f, path, key))
        if names is None:
            raise DataError(f"{path}: key '{key}' (data.keys.class_names) does not hold strings")
        return names, f"key '{key}' in the file"
    for name in CLASS_NAME_KEYS:
        for kind, source in (("key", f), ("attribute", f.attrs)):
            value = source.get(name)
            if isinstance(value, h5py.Group):
                continue
            # Something else stored under a class-names key (e.g. class counts) is not an error.
            names = _as_strings(value[()] if isinstance(value, h5py.Dataset) else value)
            if names is not None:
                return names, f"{kind} '{name}' in the file"
    return None, ""


def _as_strings(value) -> list[str] | None:
    if value is None:
        return None
    items = np.asarray(value, dtype=object).ravel().tolist()
    if not items or not all(isinstance(item, (bytes, str)) for item in items):
        return None
    return [item.decode("utf-8") if isinstance(item, bytes) else item for item in items]


def _size(x: np.ndarray) -> str:
    return f"{x.shape[1]}x{x.shape[2]}"


def _images(path: Path, key: str, x: np.ndarray) -> tuple[np.ndarray, bool]:
    """Checked images, and whether they were floats in 0..1 (now scaled to 0..255)."""
    where = f"{path}: key '{key}'"
    if x.ndim != 4:
        raise DataError(f"{where} has shape {x.shape}; images must be 4-D (count, height, width, 3)")
    if x.shape[-1] != 3:
        raise DataError(f"{where} has shape {x.shape}: {x.shape[-1]} channels, expected 3 (RGB, channels last)")
    if x.shape[1] != x.shape[2]:
        raise DataError(f"{where} has shape {x.shape}: images are {_size(x)}, not square")
    if len(x) == 0:
        raise DataError(f"{where} holds no images")
    if x.dtype == np.uint8:
        return x, False
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        if x.min() < 0 or x.max() > 255:
            raise DataError(f"{where} holds integers from {x.min()} to {x.max()}; expected 0..255")
        return x.astype(np.uint8), False
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{where} has dtype {x.dtype}; expected uint8 or float images")
    bad = np.count_nonzero(~np.isfinite(x))
    if bad:
        raise DataError(f"{where} has {bad} NaN or infinite values")
    low, high = x.min(), x.max()
    # e.g. Sentinel-2 reflectances (0..10000) or normalised pixels (-1..1): the models expect 8-bit colours.
    if low < 0 or high > 255:
        raise DataError(f"{where} holds float values from {low:g} to {high:g}; expected RGB pixel values in "
                        f"0..255 (or 0..1, scaled to 0..255): rescale the images")
    x = x.astype(np.float32)
    if high <= 1.0:
        x *= 255.0
        return x, True
    return x, False


def _labels(path: Path, key: str, y: np.ndarray, n_images: int, x_key: str) -> tuple[np.ndarray, int | None]:
    """Integer labels (one-hot rows argmax-ed), and the one-hot width (None for integer labels)."""
    where = f"{path}: key '{key}'"
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim not in (1, 2):
        raise DataError(f"{where} has shape {y.shape}; labels must be 1-D class indices or 2-D one-hot rows")
    if len(y) != n_images:
        raise DataError(f"{where} has {len(y)} labels but '{x_key}' has {n_images} images")
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
        raise DataError(f"{where} has dtype {y.dtype}; labels must be numbers")
    width = None
    if y.ndim == 2:
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise DataError(f"{where} has shape {y.shape} but its rows are not one-hot (a single 1, the rest 0)")
        width, y = y.shape[1], y.argmax(axis=1)
    if np.issubdtype(y.dtype, np.floating):
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise DataError(f"{where} has label {y[bad][0]}, but labels must be integer class indices")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DataError(f"{where} has label {y.min()}, but labels must be 0 or more")
    return y, width


def _count_classes(path: Path, keys: dict, names: list[str] | None, names_source: str,
                   expected: int | None, width: int | None) -> tuple[int | None, str]:
    """The number of classes every source agrees on, and where it comes from (None if no source says)."""
    claims = {}
    if names is not None:
        claims[names_source] = len(names)
    if expected is not None:
        claims["the expected number of classes"] = expected
    if width is not None:
        claims[f"the one-hot width of '{keys['y_train']}'"] = width
    if len(set(claims.values())) > 1:
        raise DataError(f"{path}: the number of classes does not agree: "
                        + "; ".join(f"{source} gives {n}" for source, n in claims.items())
                        + (f" (class names: {', '.join(names)})" if names else ""))
    if names is not None and len(names) != len(set(names)):
        raise DataError(f"{path}: class names are not unique: {', '.join(names)}")
    return next(((n, source) for source, n in claims.items()), (None, ""))


def _check_classes(path: Path, key: str, y: np.ndarray, names: list[str], source: str) -> None:
    n = len(names)
    if y.max() >= n:
        raise DataError(f"{path}: key '{key}' has label {y.max()}, but there are {n} classes (0..{n - 1}), "
                        f"as given by {source}")
    absent = np.flatnonzero(np.bincount(y, minlength=n) == 0)
    if len(absent):
        listed = ", ".join(f"'{names[i]}' (label {i})" for i in absent)
        raise DataError(f"{path}: key '{key}' has no images of class {listed}; every class must appear in both splits")


def _to_uint8(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x if x.dtype == np.uint8 else np.clip(np.rint(x), 0, 255).astype(np.uint8)
