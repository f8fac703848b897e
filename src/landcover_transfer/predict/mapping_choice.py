"""Which value mapping suits a scene, measured without its labels: for each mapping, how far the mapped scene's
per-channel distribution is from the training images' (1-D Wasserstein distance in pixel levels), how much of it is
clipped to 0 or 255, and what the model makes of it (the share of confident windows and the class shares of a
sample of windows)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from rasterio.windows import Window
from scipy.stats import wasserstein_distance

from landcover_transfer.predict.scene import open_scene, scene_sample
from landcover_transfer.predict.value_mapping import METHODS, apply_mapping, channel_gains, channel_stats
from landcover_transfer.predict.windows import window_starts

CHANNELS = ("red", "green", "blue")


def sample_windows(scene, indexes: list[int], size: int, max_windows: int, seed: int) -> np.ndarray:
    """Up to `max_windows` windows (n, size, size, 3) in stored units from a grid of half-overlapping windows."""
    starts = [(y, x) for y in window_starts(scene.height, size, max(1, size // 2))
              for x in window_starts(scene.width, size, max(1, size // 2))]
    chosen = np.random.default_rng(seed).permutation(len(starts))[:max_windows]
    return np.stack([np.moveaxis(scene.read(indexes, window=Window(int(starts[i][1]), int(starts[i][0]), size, size)),
                                 0, -1) for i in sorted(chosen)])


def compare_mappings(path: str, scene_settings: dict, value_mapping: dict, training_pixels: np.ndarray,
                     predict: Callable[[np.ndarray], np.ndarray], size: int, class_names: list[str],
                     confident_at: float, max_windows: int = 400, seed: int = 0) -> pd.DataFrame:
    """One row per mapping of `value_mapping.METHODS`: its gains, the distances to the training pixels (n, 3; 0..255),
    the clipped share, the confident share and the class shares of the sampled windows."""
    raster, indexes = open_scene(path, scene_settings["bands"])
    with raster:
        sample = scene_sample(raster, indexes)
        windows = sample_windows(raster, indexes, size, max_windows, seed)
    stats = channel_stats(training_pixels)
    settings = {**value_mapping, "reflectance_scale": scene_settings["reflectance_scale"],
                "offset": scene_settings["offset"]}
    rows = []
    for method in METHODS:
        mapping = channel_gains(method, settings, sample, stats)
        mapped = apply_mapping(sample, mapping)
        distances = [wasserstein_distance(mapped[:, c], training_pixels[:, c]) for c in range(3)]
        probabilities = predict(apply_mapping(windows, mapping))
        top = probabilities.max(axis=1)
        shares = np.bincount(probabilities.argmax(axis=1), minlength=len(class_names)) / len(probabilities)
        rows.append({"method": method, **{f"gain_{c}": g for c, g in zip(CHANNELS, mapping["gain"], strict=True)},
                     **{f"distance_{c}": d for c, d in zip(CHANNELS, distances, strict=True)},
                     "distance_mean": float(np.mean(distances)),
                     "clipped_share": float(((mapped <= 0) | (mapped >= 255)).mean()),
                     "confident_share": float((top >= confident_at).mean()), "windows": len(probabilities),
                     **{f"share_{name}": float(share) for name, share in zip(class_names, shares, strict=True)}})
    return pd.DataFrame(rows)
