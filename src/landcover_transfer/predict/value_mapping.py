"""Mapping a scene's stored values to the 0..255 RGB range the models were trained on.

EuroSAT's RGB images are 8-bit; Sentinel-2 products store reflectance times a scale (10,000 for Level-1C and
Level-2A, with an offset of -1,000 in Level-2A since processing baseline 04.00; other exports use 1,000), so the
scale is a setting. Every mapping here is linear per channel, `clip(value * gain + bias, 0, 255)`, and differs in
where gain and bias come from:

- `fixed`: reflectance `white` maps to 255 (ESA's true-colour images map 0..0.2 to 0..255), the same for every
  scene: what the data are, not how they look;
- `percentile`: the scene's own `percentiles` of each channel map to 0 and 255 (a contrast stretch);
- `match_training`: the scene's per-channel mean and standard deviation become those of the training images.
"""

from __future__ import annotations

import numpy as np

from landcover_transfer.workflow.errors import ConfigError

METHODS = ("fixed", "percentile", "match_training")


def channel_gains(method: str, settings: dict, sample: np.ndarray, training_stats: dict | None = None) -> dict:
    """Per-channel `gain` and `bias` of `method`, from the settings and a sample of the scene's valid pixels
    (n, channels) in stored units; `training_stats` ({"mean", "std"} per channel, 0..255) for match_training."""
    sample = np.asarray(sample, np.float64)
    if method == "fixed":
        gain = np.full(sample.shape[1], 255.0 / (settings["reflectance_scale"] * settings["white"]))
        bias = gain * settings["offset"]
    elif method == "percentile":
        low, high = np.percentile(sample, settings["percentiles"], axis=0)
        gain = 255.0 / np.maximum(high - low, np.finfo(float).eps)
        bias = -low * gain
    elif method == "match_training":
        if training_stats is None:
            raise ConfigError("value mapping match_training needs the training images' statistics")
        gain = np.asarray(training_stats["std"]) / np.maximum(sample.std(axis=0), np.finfo(float).eps)
        bias = np.asarray(training_stats["mean"]) - sample.mean(axis=0) * gain
    else:
        raise ConfigError(f"unknown value mapping '{method}': use one of {', '.join(METHODS)}")
    return {"method": method, "gain": gain.tolist(), "bias": bias.tolist()}


def apply_mapping(values: np.ndarray, mapping: dict) -> np.ndarray:
    """Stored values (..., channels) -> float32 0..255."""
    mapped = values.astype(np.float32) * np.float32(mapping["gain"]) + np.float32(mapping["bias"])
    return np.clip(mapped, 0, 255, out=mapped)


def pixel_sample(images: np.ndarray, max_pixels: int) -> np.ndarray:
    """At most about `max_pixels` evenly spaced pixels (n, channels) of images (..., channels)."""
    pixels = images.reshape(-1, images.shape[-1])
    return pixels[:: max(1, len(pixels) // max_pixels)]


def channel_stats(images: np.ndarray, max_pixels: int = 2_000_000) -> dict:
    """Per-channel mean and standard deviation of images (..., channels), from at most `max_pixels` pixels."""
    pixels = pixel_sample(images, max_pixels).astype(np.float64)
    return {"mean": pixels.mean(axis=0).tolist(), "std": pixels.std(axis=0).tolist()}
