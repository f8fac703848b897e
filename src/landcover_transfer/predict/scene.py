"""Land-cover maps of GeoTIFF scenes: the red, green and blue bands mapped to 0..255, windows of the training
images' size classified and blended (windows.py), written row by row and then as Cloud-Optimised GeoTIFFs with the
input's CRS and transform. Memory holds one strip of windows, whatever the scene's size.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from landcover_transfer.predict.bands import rgb_indexes
from landcover_transfer.predict.value_mapping import apply_mapping
from landcover_transfer.predict.windows import blended_rows
from landcover_transfer.workflow.atomic_files import atomic_path
from landcover_transfer.workflow.errors import DataError

NODATA = 255  # classes.tif: no input there; the class indexes and "unknown" stay below it


def open_scene(path: str | Path, bands: list) -> tuple[rasterio.DatasetReader, list[int]]:
    """The opened scene and the indexes of its red, green and blue bands; a scene that cannot be mapped fails here,
    before any model is loaded."""
    try:
        scene = rasterio.open(path)
    except rasterio.errors.RasterioIOError as error:
        raise DataError(f"{path}: not a readable raster ({error})") from None
    if scene.crs is None:
        scene.close()
        raise DataError(f"{path} has no CRS, so its map could not be placed: assign one (e.g. gdal_edit.py -a_srs "
                        "EPSG:32630 the.tif)")
    return scene, rgb_indexes(bands, scene.count, scene.descriptions, str(path))


def scene_sample(scene, indexes: list[int], max_side: int = 1024) -> np.ndarray:
    """Valid pixels (n, 3) of the scene in stored units, read at most `max_side` pixels across (overviews or
    decimation: the memory does not grow with the scene)."""
    factor = max(1, int(np.ceil(max(scene.height, scene.width) / max_side)))
    shape = (3, max(1, scene.height // factor), max(1, scene.width // factor))
    values = scene.read(indexes, out_shape=shape, masked=True)
    valid = ~np.ma.getmaskarray(values).any(axis=0)
    if not valid.any():
        raise DataError(f"{scene.name}: every pixel of the red, green and blue bands is nodata")
    return np.ma.getdata(values)[:, valid].T


def window_predictor(models: list, batch_size: int, tta: bool) -> Callable[[np.ndarray], np.ndarray]:
    """Probabilities of a stack of windows (n, size, size, 3) in 0..255: the mean over the models and, with `tta`,
    over the 8 dihedral views of each window."""
    from landcover_transfer.finetune.tta import dihedral_views

    def predict(windows: np.ndarray) -> np.ndarray:
        views = dihedral_views(windows) if tta else [windows]
        total = 0.0
        for view in views:
            view = np.ascontiguousarray(view)
            for model in models:
                total = total + np.concatenate([model.predict_on_batch(view[start:start + batch_size])
                                                for start in range(0, len(view), batch_size)])
        return total / ((8 if tta else 1) * len(models))

    return predict


def write_probability_maps(scene, indexes: list[int], mapping: dict, size: int, stride: int,
                           predict: Callable, classes_path: Path, probabilities_path: Path,
                           n_classes: int, unknown_below: float | None) -> dict:
    """Rows of class indexes (uint8; `n_classes` for unknown, NODATA where the input is nodata) and of probabilities
    (uint8, p x 255, nodata in the mask band) written to striped GeoTIFFs; returns the pixel counts."""
    profile = {"driver": "GTiff", "width": scene.width, "height": scene.height, "crs": scene.crs,
               "transform": scene.transform, "dtype": "uint8", "tiled": False, "compress": "deflate"}
    counts = np.zeros(n_classes + 1, np.int64)
    confident = 0

    def read_strip(row: int) -> np.ndarray:
        values = scene.read(indexes, window=Window(0, row, scene.width, size))
        return apply_mapping(np.moveaxis(values, 0, -1), mapping)

    with rasterio.open(classes_path, "w", count=1, nodata=NODATA, **profile) as classes, \
            rasterio.open(probabilities_path, "w", count=n_classes, **profile) as probabilities:
        for row, blended in blended_rows(read_strip, scene.height, scene.width, size, stride, predict):
            window = Window(0, row, scene.width, blended.shape[0])
            valid = (scene.read_masks(indexes, window=window) > 0).all(axis=0)
            top = blended.max(axis=-1)
            labels = blended.argmax(axis=-1).astype(np.uint8)
            if unknown_below is not None:
                labels[top < unknown_below] = n_classes
                confident += int((top[valid] >= unknown_below).sum())
            labels[~valid] = NODATA
            counts += np.bincount(labels[valid], minlength=n_classes + 1)
            classes.write(labels, 1, window=window)
            probabilities.write(np.moveaxis(np.rint(blended * 255), -1, 0).astype(np.uint8), window=window)
            probabilities.write_mask(np.where(valid, 255, 0).astype(np.uint8), window=window)
    return {"counts": counts.tolist(), "confident_pixels": confident}


def to_cog(source: Path, destination: str | Path, overview_resampling: str) -> None:
    """A Cloud-Optimised GeoTIFF (internal 512-pixel tiles, overviews, deflate) of a finished raster, by GDAL's COG
    driver, which reads the source by blocks and keeps its mask band, colour table, tags and band descriptions.
    (rio-cogeo 7.0.4's cog_translate drops a per-dataset mask band: measured with rasterio 1.4.4, GDAL 3.10.)"""
    with atomic_path(destination) as tmp:
        rasterio.shutil.copy(source, tmp, driver="COG", compress="DEFLATE", blocksize=512,
                             overview_resampling=overview_resampling)


def class_colours(class_names: list[str], colours: dict[str, str], colormap: str) -> dict[int, tuple]:
    """The colour table of classes.tif: each class in its configured colour (#rrggbb) or else a matplotlib
    colormap's, unknown grey, nodata transparent."""
    import matplotlib
    from matplotlib.colors import to_rgba

    fallback = matplotlib.colormaps[colormap].resampled(len(class_names))
    table = {i: tuple(int(round(255 * c)) for c in to_rgba(colours.get(name, fallback(i))))
             for i, name in enumerate(class_names)}
    table[len(class_names)] = (128, 128, 128, 255)
    table[NODATA] = (0, 0, 0, 0)
    return table


def write_class_map(striped: Path, destination: str | Path, class_names: list[str], colours: dict) -> None:
    table = class_colours(class_names, colours["colours"], colours["colormap"])
    with rasterio.open(striped, "r+") as classes:
        classes.write_colormap(1, table)
        classes.update_tags(class_names=json.dumps([*class_names, "unknown"]), nodata="no input data")
        classes.set_band_description(1, "land-cover class index (see the class_names tag)")
    to_cog(striped, destination, overview_resampling="MODE")


def write_probabilities(striped: Path, destination: str | Path, class_names: list[str]) -> None:
    with rasterio.open(striped, "r+") as probabilities:
        for index, name in enumerate(class_names, start=1):
            probabilities.set_band_description(index, f"{name} probability x 255")
    to_cog(striped, destination, overview_resampling="AVERAGE")


def predict_scene(path: str | Path, bands: list, mapping: dict, predict: Callable, size: int, stride: int,
                  class_names: list[str], unknown_below: float | None, colours: dict, outputs: dict) -> dict:
    """classes.tif and probabilities.tif of a scene (paths in `outputs`; `colours`: predict's `colours` and
    `colormap`); returns the pixel counts and the scene's facts for the areas and the summary."""
    scene, indexes = open_scene(path, bands)
    with scene, tempfile.TemporaryDirectory(dir=Path(outputs["classes"]).parent) as tmp:
        striped = {"classes": Path(tmp) / "classes.tif", "probabilities": Path(tmp) / "probabilities.tif"}
        facts = write_probability_maps(scene, indexes, mapping, size, stride, predict, striped["classes"],
                                       striped["probabilities"], len(class_names), unknown_below)
        write_class_map(striped["classes"], outputs["classes"], class_names, colours)
        write_probabilities(striped["probabilities"], outputs["probabilities"], class_names)
        facts.update(width=scene.width, height=scene.height, crs=scene.crs.to_string(), bands=indexes,
                     pixel_area_m2=pixel_area_m2(scene))
    return facts


def pixel_area_m2(scene) -> float | None:
    """A pixel's area in square metres, or None where the CRS's units are not metres (e.g. degrees)."""
    if scene.crs.linear_units not in ("metre", "meter", "metres", "meters"):
        return None
    transform = scene.transform
    return float(abs(transform.a * transform.e - transform.b * transform.d))
