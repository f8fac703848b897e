"""The classical branch's feature extractor: a frozen base without top, flattened (VGG16 at 64x64: 2x2x512 = 2048)."""

from __future__ import annotations

import logging
import time

import keras
import numpy as np

from .atomic_files import progress
from .models import build_base, inputs_to_base
from .training import configure_runtime, make_dataset

log = logging.getLogger(__name__)


def build_extractor(arch: dict, data_size: int, image_size: int, weights: str | None) -> keras.Model:
    # Seeded: with random weights (weights: null) the transfer matrix rebuilds this same extractor.
    keras.utils.set_random_seed(0)
    base = build_base(arch, image_size, weights)
    base.trainable = False
    inputs, x = inputs_to_base(arch, data_size, image_size)
    return keras.Model(inputs, keras.layers.Flatten(name="features")(base(x, training=False)), name="extractor")


def extract(extractor: keras.Model, images: np.ndarray, batch_size: int, label: str) -> np.ndarray:
    """Features of `images` in batches, with progress and ETA in the log every ~10%."""
    batches = make_dataset(images, np.zeros(len(images)), batch_size, shuffle=False, seed=0)
    n_batches = int(np.ceil(len(images) / batch_size))
    every = max(1, n_batches // 10)
    parts, started = [], time.time()
    for index, (batch, _) in enumerate(batches):
        parts.append(keras.ops.convert_to_numpy(extractor(batch, training=False)))
        if (index + 1) % every == 0 or index + 1 == n_batches:
            done = min((index + 1) * batch_size, len(images))
            log.info("%s: %s", label, progress(done, len(images), time.time() - started, "images"))
    return np.concatenate(parts).astype(np.float32)


def extract_dataset_features(dataset, arch: dict, features: dict, weights: str | None,
                             threads: int | None = None) -> dict:
    """Features of the train and validation images: computed once, cached by the workflow."""
    configure_runtime({"mixed_precision": False, "jit_compile": False}, threads)
    extractor = build_extractor(arch, dataset.x_train.shape[1], features["image_size"], weights)
    log.info("extractor %s at %dx%d: %d features per image", arch["constructor"], features["image_size"],
             features["image_size"], extractor.output_shape[-1])
    return {
        "train": extract(extractor, dataset.x_train, features["batch_size"], "train"),
        "val": extract(extractor, dataset.x_val, features["batch_size"], "val"),
    }
