"""Input pipeline with the study's augmentation: the study's `ImageDataGenerator.flow` (legacy `tf_keras`,
installed for the benchmark only) vs this workflow's `tf.data` pipeline with Keras layers (`training.make_dataset`)."""

from __future__ import annotations

import math
import time

import numpy as np

from ..training import build_augmentation, make_dataset
from .common import random_images, summary_row

# The study's generator (DL_assignment2): what config.yaml's `standard` policy translates into Keras layers.
STUDY_GENERATOR = {"rotation_range": 10, "width_shift_range": 0.1, "height_shift_range": 0.1,
                   "horizontal_flip": True, "fill_mode": "nearest"}
TARGET_RATIO = 2.0


def image_data_generator_rate(images: np.ndarray, labels: np.ndarray, batch_size: int, epochs: int) -> float | None:
    """Images/s of the study's generator over `epochs` passes after one warm-up batch; None without tf_keras."""
    try:
        from tf_keras.preprocessing.image import ImageDataGenerator
    except ImportError:
        return None
    flow = ImageDataGenerator(**STUDY_GENERATOR).flow(images.astype("float32"), labels, batch_size=batch_size,
                                                      shuffle=True, seed=0)
    next(flow)
    batches = epochs * math.ceil(len(images) / batch_size)
    started = time.perf_counter()
    for _ in range(batches):
        next(flow)
    return epochs * len(images) / (time.perf_counter() - started)


def tf_data_rate(images: np.ndarray, labels: np.ndarray, batch_size: int, epochs: int,
                 layers: list[dict]) -> float:
    """Images/s of the workflow's pipeline (the same `make_dataset` as training) after one warm-up pass,
    which traces the augmentation graph."""
    dataset = make_dataset(images, labels, batch_size, shuffle=True, seed=0,
                           augmentation=build_augmentation(layers, seed=0))
    for _ in dataset:
        pass
    started = time.perf_counter()
    for _ in range(epochs):
        for _ in dataset:
            pass
    return epochs * len(images) / (time.perf_counter() - started)


def compare_pipelines(config: dict, image_sizes: list[int], n_images: int, batch_size: int, epochs: int,
                      policy: str = "standard") -> tuple[list[dict], list[dict]]:
    """Rows per image size and pipeline, and one summary row per image size (tf.data / ImageDataGenerator)."""
    rows, summary = [], []
    for size in image_sizes:
        images, labels = random_images(n_images, size, 9)
        study = image_data_generator_rate(images, labels, batch_size, epochs)
        ours = tf_data_rate(images, labels, batch_size, epochs, config["augmentations"][policy])
        rows += [{"pipeline": "ImageDataGenerator.flow (study)", "image_size": size, "batch_size": batch_size,
                  "images": n_images, "images_per_s": study},
                 {"pipeline": f"tf.data + Keras layers ({policy})", "image_size": size, "batch_size": batch_size,
                  "images": n_images, "images_per_s": ours}]
        row = summary_row(f"input pipeline, {size} px", "ImageDataGenerator.flow", "tf.data + Keras layers",
                          study, ours, "images/s", f">= {TARGET_RATIO:g}x")
        if study is None:
            row["note"] = "ImageDataGenerator not measured: tf_keras is not installed (make bench installs it)"
        else:
            row["target_met"] = "yes" if row["ratio"] >= TARGET_RATIO else "no"
        summary.append(row)
    return rows, summary
