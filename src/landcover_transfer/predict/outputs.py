"""What a person reads from a land-cover map: the area of each class, and the quicklook (the scene beside its map,
with a legend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

from landcover_transfer.predict.value_mapping import apply_mapping
from landcover_transfer.workflow.atomic_files import atomic_path

HECTARE_M2 = 10_000.0


def areas_table(counts: list[int], class_names: list[str], pixel_area_m2: float | None) -> pd.DataFrame:
    """Pixels, hectares (empty where the CRS is not in metres) and share of the mapped pixels per class, with
    `unknown` last (pixels below the confidence threshold)."""
    counts = np.asarray(counts, dtype=np.int64)
    table = pd.DataFrame({"class": [*class_names, "unknown"], "pixels": counts})
    table["hectares"] = counts * pixel_area_m2 / HECTARE_M2 if pixel_area_m2 else np.nan
    table["share"] = counts / max(int(counts.sum()), 1)
    return table


def write_areas(table: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


def _decimated(path: str | Path, indexes: list[int], max_side: int, resampling) -> np.ndarray:
    with rasterio.open(path) as raster:
        factor = max(1, int(np.ceil(max(raster.height, raster.width) / max_side)))
        shape = (len(indexes), max(1, raster.height // factor), max(1, raster.width // factor))
        return raster.read(indexes, out_shape=shape, resampling=resampling, masked=True)


def write_quicklook(scene_path: str | Path, indexes: list[int], mapping: dict, classes_path: str | Path,
                    colours: dict, table: pd.DataFrame, title: str, path: str | Path, max_side: int = 800) -> None:
    """The scene's mapped RGB beside its class map, with each class's colour and share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from rasterio.enums import Resampling

    rgb = apply_mapping(np.moveaxis(np.ma.getdata(_decimated(scene_path, indexes, max_side, Resampling.average)),
                                    0, -1), mapping) / 255
    labels = np.ma.getdata(_decimated(classes_path, [1], max_side, Resampling.nearest))[0]
    palette = np.zeros((256, 4))
    for value, colour in colours.items():
        palette[value] = np.asarray(colour) / 255
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.5 * rgb.shape[0] / max(rgb.shape[1], 1) + 1.2))
    axes[0].imshow(rgb)
    axes[0].set_title("scene (mapped RGB)")
    axes[1].imshow(palette[labels], interpolation="nearest")
    axes[1].set_title("land cover")
    for ax in axes:
        ax.set_axis_off()
    handles = [Patch(facecolor=palette[index], edgecolor="black", linewidth=0.3,
                     label=f"{row['class']} {100 * row['share']:.1f}%") for index, row in table.iterrows()]
    fig.legend(handles=handles, loc="lower center", ncol=min(5, len(handles)), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)
