"""Stand-in pre-training of a base from random initialisation, for `weights: null` (the demo)."""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from landcover_transfer.finetune.pipeline import make_dataset
from landcover_transfer.finetune.training import configure_runtime, image_size_for
from landcover_transfer.workflow.atomic_files import atomic_path

log = logging.getLogger(__name__)

def _nested_layers(layer):
    yield layer
    for inner in getattr(layer, "layers", []):
        yield from _nested_layers(inner)


def recalibrate_batchnorm(model: keras.Model, images: np.ndarray) -> None:
    """Set every BatchNormalization layer's moving statistics from one batch of `images`.

    A short training run moves the moving averages (momentum 0.99) only a few percent away from their
    initial 0/1, so the network would behave differently in inference mode than it did in training.
    """
    batchnorms = [layer for layer in _nested_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in batchnorms]
    for layer in batchnorms:
        layer.momentum = 0.0
    model(tf.cast(images, tf.float32), training=True)
    for layer, momentum in zip(batchnorms, momenta, strict=True):
        layer.momentum = momentum


def pretrain_stand_in(arrays: dict, *, arch: dict, training: dict, pretrain: dict, n_classes: int,
                      path: str | Path, threads: int | None = None) -> dict:
    """Train the whole base from random initialisation on the fit split and save its weights.

    With `weights: null` there is nothing to transfer: a frozen random base stays at chance (measured:
    MobileNetV2 at 11.3% on 9 classes). This stand-in for ImageNet pre-training gives the fine-tuning
    strategies frozen features worth keeping, so the demo exercises what the study does. Its numbers
    say nothing about ImageNet transfer.
    """
    from landcover_transfer.finetune.models import build_base, inputs_to_base

    runtime = configure_runtime(training, threads)
    keras.utils.set_random_seed(training["seed"])
    data_size, image_size = arrays["x_fit"].shape[1], image_size_for(arch, training)
    base = build_base(arch, image_size, None)
    inputs, x = inputs_to_base(arch, data_size, image_size)
    x = keras.layers.GlobalAveragePooling2D()(base(x))
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    # VGG16 has no BatchNormalization: from scratch it needs a smaller rate than the others.
    learning_rate = arch.get("pretrain_learning_rate", pretrain["learning_rate"])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=runtime["jit_compile"])
    seed = training["seed"]
    history = model.fit(
        make_dataset(arrays["x_fit"], arrays["y_fit"], training["batch_size"], shuffle=True, seed=seed),
        validation_data=make_dataset(arrays["x_selection"], arrays["y_selection"], training["batch_size"],
                                     shuffle=False, seed=seed),
        epochs=pretrain["epochs"], verbose=2, shuffle=False,  # the pipeline shuffles (see train_variant)
    )
    recalibrate_batchnorm(model, arrays["x_fit"][: pretrain["batchnorm_images"]])
    selection_accuracy = model.evaluate(
        make_dataset(arrays["x_selection"], arrays["y_selection"], training["batch_size"], shuffle=False,
                     seed=seed), verbose=0, return_dict=True)["accuracy"]
    with atomic_path(path) as tmp:
        base.save_weights(tmp)
    return {"epochs": pretrain["epochs"], "final_train_accuracy": float(history.history["accuracy"][-1]),
            "selection_accuracy_inference_mode": float(selection_accuracy)}
