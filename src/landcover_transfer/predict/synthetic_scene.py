"""A small georeferenced scene made of held-out images, with its label raster: what the demo and the tests map
(no real scene ships with the project). Stored as a Sentinel-2 product stores reflectance (uint16, reflectance x
10,000), at 10 m in UTM, so that the map goes through the same value mapping as a real scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from landcover_transfer.workflow.atomic_files import atomic_path

REFLECTANCE_SCALE = 10_000
WHITE = 0.2  # the reflectance of pixel value 255: predict.value_mapping's fixed default maps it back exactly
CRS = "EPSG:32630"
ORIGIN = (500_000.0, 5_800_000.0)  # UTM zone 30N, metres
PIXEL_M = 10.0


def mosaic(images: np.ndarray, labels: np.ndarray, tiles: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`tiles` x `tiles` images drawn without replacement, side by side: (H, W, 3) pixels and (H, W) labels."""
    if len(images) < tiles * tiles:
        raise ValueError(f"{tiles} x {tiles} tiles need {tiles * tiles} images, {len(images)} given")
    chosen = np.random.default_rng(seed).choice(len(images), tiles * tiles, replace=False)
    side = images.shape[1]
    grid = images[chosen].reshape(tiles, tiles, side, side, 3).swapaxes(1, 2).reshape(tiles * side, tiles * side, 3)
    truth = np.repeat(np.repeat(labels[chosen].reshape(tiles, tiles), side, axis=0), side, axis=1)
    return grid, truth.astype(np.uint8)


def write_synthetic_scene(path: str | Path, labels_path: str | Path, images: np.ndarray, labels: np.ndarray,
                          tiles: int, seed: int, class_names: list[str]) -> tuple[int, int]:
    """The scene (bands red, green, blue) and its labels as GeoTIFFs; returns the scene's (height, width)."""
    pixels, truth = mosaic(images, labels, tiles, seed)
    profile = {"driver": "GTiff", "height": truth.shape[0], "width": truth.shape[1], "crs": CRS,
               "transform": from_origin(*ORIGIN, PIXEL_M, PIXEL_M), "compress": "deflate"}
    stored = np.rint(pixels.astype(np.float64) / 255 * WHITE * REFLECTANCE_SCALE).astype(np.uint16)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", count=3, dtype="uint16", **profile) as scene:
        scene.write(np.moveaxis(stored, -1, 0))
        scene.descriptions = ("B4", "B3", "B2")
    with atomic_path(labels_path) as tmp, rasterio.open(tmp, "w", count=1, dtype="uint8", **profile) as raster:
        raster.write(truth, 1)
        raster.update_tags(class_names=",".join(class_names))
    return truth.shape
