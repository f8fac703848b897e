"""Build a study-shaped HDF5 file from the public EuroSAT RGB release, for when the course file is not at hand.

The release is a folder per class of 64x64 JPEGs, either as `2750/<Class>/<Class>_<n>.jpg` (EuroSAT.zip)
or `EuroSAT_RGB/<Class>/...`; the study dropped SeaLake, leaving 9 classes in alphabetical order.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image
from sklearn.model_selection import train_test_split

from landcover_transfer.data.dataset import Dataset, write_dataset
from landcover_transfer.workflow.errors import ConfigError, DataError

# The release's class folders (data.eurosat.classes); labels follow this order.
RELEASE_CLASSES = ("AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture",
                   "PermanentCrop", "Residential", "River", "SeaLake")
ROOTS = ("2750/", "EuroSAT_RGB/", "")  # where the class folders may sit inside the release
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
MAX_LISTED = 20


def convert_eurosat(
    source: str | os.PathLike,
    output: str | os.PathLike,
    classes: tuple[str, ...] | list[str] = RELEASE_CLASSES,
    exclude_classes: tuple[str, ...] | list[str] = ("SeaLake",),
    val_fraction: float = 0.2,
    seed: int = 42,
    image_size: int = 64,
) -> Dataset:
    """Read the release (a .zip or an extracted folder), split it stratified, and write it with `write_dataset`.

    The release must hold exactly the class folders `classes`: a missing one would shift every later label.
    Labels follow the order of `classes` without `exclude_classes`.
    """
    source = Path(source)
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    unlisted = [name for name in exclude_classes if name not in classes]
    if unlisted:
        raise ConfigError(f"data.eurosat.exclude_classes: {', '.join(unlisted)} not in data.eurosat.classes")
    class_names = [name for name in classes if name not in exclude_classes]
    if not class_names:
        raise ConfigError("data.eurosat.exclude_classes leaves no class of data.eurosat.classes")
    with open_image_archive(source) as (names, read):
        by_class = _class_files(names)
        if not by_class:
            raise DataError(f"{source}: no EuroSAT class folders found; expected <Class>/<image>.jpg "
                            f"under 2750/, EuroSAT_RGB/ or the top level")
        _check_class_folders(source, sorted(by_class), classes)
        files = [(label, file) for label, name in enumerate(class_names) for file in by_class[name]]
        images = read_images(source, files, read, image_size)

    labels = np.array([label for label, _ in files], dtype=np.int64)
    try:
        train, val = train_test_split(np.arange(len(labels)), test_size=val_fraction, stratify=labels,
                                      random_state=seed)
    except ValueError as error:  # e.g. a class with a single image cannot be in both splits
        raise DataError(f"{source}: cannot split the images into train and validation: {error}") from error
    dataset = Dataset(images[train], labels[train], images[val], labels[val], class_names)
    write_dataset(output, dataset)
    return dataset


def _check_class_folders(source: Path, found: list[str], classes: tuple[str, ...] | list[str]) -> None:
    missing = [name for name in classes if name not in found]
    extra = [name for name in found if name not in classes]
    problems = ([f"class folder {', '.join(missing)} missing"] if missing else []) + (
        [f"unexpected class folder {', '.join(extra)}"] if extra else [])
    if problems:
        raise DataError(f"{source}: {'; '.join(problems)}; the release must hold exactly the class folders of "
                        f"data.eurosat.classes ({', '.join(classes)})")


@contextlib.contextmanager
def open_image_archive(source: Path) -> Iterator[tuple[list[str], Callable[[str], bytes]]]:
    """The release's file names (relative, '/'-separated) and a function reading one of them."""
    if source.is_dir():
        names = [path.relative_to(source).as_posix() for path in source.rglob("*") if path.is_file()]
        yield names, lambda name: (source / name).read_bytes()
    elif source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            yield [name for name in archive.namelist() if not name.endswith("/")], archive.read
    elif source.exists():
        raise DataError(f"{source}: neither a folder nor a .zip archive of the EuroSAT RGB release")
    else:
        raise DataError(f"{source}: not found (expected the EuroSAT RGB release, a .zip or an extracted folder)")


def _class_files(names: list[str]) -> dict[str, list[str]]:
    """Image files per class folder, sorted, under the first root that has any."""
    for root in ROOTS:
        by_class: dict[str, list[str]] = {}
        for name in names:
            parts = name[len(root):].split("/")
            # Skips macOS resource forks and other hidden entries (`._x.jpg`, `.DS_Store`).
            if (name.startswith(root) and len(parts) == 2 and not any(p.startswith(".") for p in parts)
                    and parts[1].lower().endswith(IMAGE_SUFFIXES)):
                by_class.setdefault(parts[0], []).append(name)
        if by_class:
            return {name: sorted(files) for name, files in by_class.items()}
    return {}


def read_images(source: Path, files: list[tuple[int, str]], read: Callable[[str], bytes],
                 image_size: int) -> np.ndarray:
    images = np.empty((len(files), image_size, image_size, 3), dtype=np.uint8)
    problems = []
    for i, (_, name) in enumerate(files):
        try:
            with Image.open(io.BytesIO(read(name))) as image:
                if image.size != (image_size, image_size):
                    problems.append(f"{name}: {image.size[0]}x{image.size[1]}, expected {image_size}x{image_size}")
                    continue
                images[i] = np.asarray(image.convert("RGB"))
        except (OSError, ValueError) as error:  # PIL's "cannot identify" and "truncated" errors
            problems.append(f"{name}: unreadable ({error})")
    if problems:
        listed = "\n  ".join(problems[:MAX_LISTED])
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise DataError(f"{source}: {len(problems)} of {len(files)} images cannot be used:\n  {listed}{more}")
    return images
