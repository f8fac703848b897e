"""Input pipeline with the study's augmentation: the study's `ImageDataGenerator.flow` (legacy `tf_keras`,
installed for the benchmark only) vs this workflow's `tf.data` pipeline with Keras layers (`training.make_dataset`)."""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

import numpy as np
from tensorflow.python.framework.config import (  # no public twins of disable and is_enabled
    disable_op_determinism,
    enable_op_determinism,
    is_op_determinism_enabled,
)

from bench.common import random_images, summary_row
from landcover_transfer.finetune.pipeline import build_augmentation, make_dataset

# The study's generator (DL_assignment2): what config.yaml's `standard` policy translates into Keras layers.
STUDY_GENERATOR = {"rotation_range": 10, "width_shift_range": 0.1, "height_shift_range": 0.1,
                   "horizontal_flip": True, "fill_mode": "nearest"}
TARGET_RATIO = 2.0


@contextmanager
def determinism(enabled: bool):
    """TensorFlow's op determinism (training.deterministic) on or off inside, as it was afterwards."""
    was = is_op_determinism_enabled()
    enable_op_determinism() if enabled else disable_op_determinism()
    try:
        yield
    finally:
        enable_op_determinism() if was else disable_op_determinism()


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
        layers = config["augmentations"][policy]
        ours = tf_data_rate(images, labels, batch_size, epochs, layers)
        with determinism(False):  # tf.data may then run the augmentation on several cores
            parallel = tf_data_rate(images, labels, batch_size, epochs, layers)
        common = {"image_size": size, "batch_size": batch_size, "images": n_images}
        rows += [{"pipeline": "ImageDataGenerator.flow (study)", **common, "images_per_s": study},
                 {"pipeline": f"tf.data + Keras layers ({policy}), as configured", **common, "images_per_s": ours},
                 {"pipeline": f"tf.data + Keras layers ({policy}), without determinism", **common,
                  "images_per_s": parallel}]
        # Where the time goes: each layer is a pass of its own over the batch.
        rows += [{"pipeline": f"tf.data + {next(iter(entry))} alone, as configured", **common,
                  "images_per_s": tf_data_rate(images, labels, batch_size, epochs, [entry])} for entry in layers]
        row = summary_row(f"input pipeline, {size} px", "ImageDataGenerator.flow", "tf.data + Keras layers",
                          study, ours, "images/s", f">= {TARGET_RATIO:g}x",
                          note=f"without op determinism (training.deterministic: false) {parallel:.0f} images/s")
        if study is None:
            row["note"] = "ImageDataGenerator not measured: tf_keras is not installed (make bench installs it)"
        else:
            row["target_met"] = "yes" if row["ratio"] >= TARGET_RATIO else "no"
        summary.append(row)
    return rows, summary
