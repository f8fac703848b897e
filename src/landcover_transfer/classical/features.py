"""The classical branch's feature extractor: a frozen base without top, its last feature map flattened (the study's:
VGG16 at 64x64 gives 2x2x512 = 2048) or globally average-pooled (`features.pooling: avg`), optionally averaged over
each image's 8 flips and 90-degree rotations (`features.test_time_augmentation: dihedral`)."""

from __future__ import annotations

import logging
import time

import keras
import numpy as np

from landcover_transfer.finetune.models import build_base, inputs_to_base
from landcover_transfer.finetune.pipeline import make_dataset
from landcover_transfer.finetune.training import configure_runtime
from landcover_transfer.workflow.atomic_files import progress

log = logging.getLogger(__name__)


POOLING = {"flatten": keras.layers.Flatten, "avg": keras.layers.GlobalAveragePooling2D}


def build_extractor(arch: dict, data_size: int, image_size: int, weights: str | None,
                    pooling: str = "flatten", views: str = "none") -> keras.Model:
    """The frozen base on raw pixels, then its feature map as one vector per image (`POOLING`); with `views`
    "dihedral" the mean of those vectors over the image's 8 flips and 90-degree rotations."""
    # Seeded: with random weights (weights: null) the transfer matrix rebuilds this same extractor.
    keras.utils.set_random_seed(0)
    base = build_base(arch, image_size, weights)
    base.trainable = False
    inputs, x = inputs_to_base(arch, data_size, image_size)
    features = POOLING[pooling](name="features")(base(x, training=False))
    extractor = keras.Model(inputs, features, name="extractor")
    return dihedral_mean(extractor) if views == "dihedral" else extractor


def dihedral_mean(extractor: keras.Model) -> keras.Model:
    """`extractor` averaged over the dihedral views of its input (the views of tta.dihedral_views), inside the
    model: every consumer of the extractor (the features, the transfer matrix's classical targets) sees the same."""
    inputs = keras.Input(extractor.input_shape[1:], name="images")
    rotations = [keras.ops.rot90(inputs, k=turns, axes=(1, 2)) for turns in range(4)]
    views = [view for rotated in rotations for view in (rotated, keras.ops.flip(rotated, axis=2))]
    return keras.Model(inputs, keras.layers.Average(name="features")([extractor(view) for view in views]),
                       name="extractor")


def configured_extractor(arch: dict, data_size: int, features: dict, weights: str | None) -> keras.Model:
    """The extractor the `features` config describes (`pooling` and `test_time_augmentation` absent, as in configs
    made before them: flatten, one view)."""
    return build_extractor(arch, data_size, features["image_size"], weights, features.get("pooling", "flatten"),
                           features.get("test_time_augmentation", "none"))


def extract(extractor: keras.Model, images: np.ndarray, batch_size: int, label: str) -> np.ndarray:
    """Features of `images` in batches, with progress and ETA in the log every ~10%."""
    batches = make_dataset(images, np.zeros(len(images)), batch_size, shuffle=False, seed=0)
    n_batches = int(np.ceil(len(images) / batch_size))
    every = max(1, n_batches // 10)
    parts, started = [], time.time()
    for index, (batch, _) in enumerate(batches):
        # predict_on_batch runs Keras' compiled predict step: calling the model eagerly per batch ran MobileNetV2's
        # feature extraction at a third of its training rate (make bench)
        parts.append(np.asarray(extractor.predict_on_batch(batch)))
        if (index + 1) % every == 0 or index + 1 == n_batches:
            done = min((index + 1) * batch_size, len(images))
            log.info("%s: %s", label, progress(done, len(images), time.time() - started, "images"))
    return np.concatenate(parts).astype(np.float32)


def extract_dataset_features(dataset, arch: dict, features: dict, weights: str | None,
                             threads: int | None = None) -> dict:
    """Features of the train and validation images: computed once, cached by the workflow."""
    configure_runtime({"mixed_precision": False, "jit_compile": False}, threads)
    extractor = configured_extractor(arch, dataset.x_train.shape[1], features, weights)
    log.info("extractor %s at %dx%d: %d features per image", arch["constructor"], features["image_size"],
             features["image_size"], extractor.output_shape[-1])
    return {
        "train": extract(extractor, dataset.x_train, features["batch_size"], "train"),
        "val": extract(extractor, dataset.x_val, features["batch_size"], "val"),
    }
