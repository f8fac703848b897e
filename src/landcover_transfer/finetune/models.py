"""Fine-tuning models built from config: a `keras.applications` base, its own preprocessing, the study's head.

Every model takes raw 0..255 RGB pixels: resizing (when `image_size` differs from the data) and the
architecture's `preprocess_input` are layers inside the model, so training, evaluation, ensembles and
attacks all feed the same input.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import tensorflow as tf

from landcover_transfer.workflow.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="landcover_transfer")
class Preprocess(keras.layers.Layer):
    """`keras.applications.<module>.preprocess_input` as a serialisable layer."""

    def __init__(self, module: str, **kwargs):
        super().__init__(**kwargs)
        self.module = module
        self._preprocess = _application_module(module).preprocess_input

    def call(self, inputs):
        return self._preprocess(inputs)

    def get_config(self):
        return {**super().get_config(), "module": self.module}


def _application_module(name: str):
    module = getattr(keras.applications, name, None)
    if module is None or not hasattr(module, "preprocess_input"):
        raise ConfigError(f"keras.applications has no module '{name}' with a preprocess_input function")
    return module


def load_model(path: str | Path) -> keras.Model:
    """A saved model, deserialised in Keras safe mode (no arbitrary code such as Lambda layers); the `Preprocess`
    layer every saved variant contains is registered by this module."""
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except (ValueError, TypeError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path}: cannot load the model in Keras safe mode ({first_line}); "
                        "only models saved by this workflow can be used") from None


def check_class_count(model: keras.Model, name: str, class_names: list[str]) -> None:
    """One line when a saved model predicts another number of classes than the dataset has (another dataset's)."""
    if model.output_shape[-1] != len(class_names):
        raise DataError(f"{name} predicts {model.output_shape[-1]} classes, the dataset has {len(class_names)} "
                        f"({', '.join(class_names)}): use a model trained on this dataset")


def resolve_weights(weights: str | None, base_dir: str | Path = ".") -> str | None:
    """`imagenet` (Keras downloads and caches), None (random init) or a pre-staged weights file."""
    if weights is None or weights == "imagenet":
        return weights
    path = Path(base_dir) / weights
    if not path.is_file():
        raise ConfigError(
            f"weights file '{path}' not found: set `weights` to imagenet, null, or the path of a file "
            "pre-staged on the compute nodes (see docs/cluster.md, 'Pre-staging ImageNet weights')"
        )
    return str(path)


def build_base(arch: dict, image_size: int, weights: str | None) -> keras.Model:
    """The architecture's convolutional base without top, at `image_size` x `image_size`."""
    constructor = getattr(keras.applications, arch["constructor"], None)
    if constructor is None:
        raise ConfigError(f"keras.applications has no constructor '{arch['constructor']}'")
    try:
        return constructor(
            include_top=False,
            weights=resolve_weights(weights),
            input_shape=(image_size, image_size, 3),
            **arch.get("kwargs", {}),
        )
    except Exception as error:
        # Keras raises a bare Exception("URL fetch failure on <url>: ...") when it cannot download the weights.
        if weights != "imagenet" or not str(error).startswith("URL fetch failure"):
            raise
        raise ConfigError(
            f"weights: imagenet: cannot download the {arch['constructor']} ImageNet weights, and they are not in "
            f"the Keras cache (~/.keras/models) ({error}); on nodes without internet pre-stage them "
            "(docs/cluster.md, 'Pre-staging ImageNet weights')"
        ) from None


def inputs_to_base(arch: dict, data_size: int, image_size: int) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Raw-pixel input, resized to the base's resolution when needed, then the architecture's preprocessing."""
    inputs = keras.Input(shape=(data_size, data_size, 3), name="pixels")
    x = inputs
    if image_size != data_size:
        x = keras.layers.Resizing(image_size, image_size, interpolation="bilinear", name="resize")(x)
    x = Preprocess(arch["preprocess"], name="preprocess")(x)
    return inputs, x


def build_finetune_model(arch: dict, head: dict, n_classes: int, data_size: int, image_size: int,
                         weights: str | None) -> tuple[keras.Model, keras.Model]:
    """The study's model: base (BatchNorm in inference mode) -> GAP -> [Dropout] -> [BN] -> Dense -> Dropout ->
    Dense `logits` -> softmax `predictions`.

    Returns (model, base) so strategies can set the base's trainable layers.
    """
    base = build_base(arch, image_size, weights)
    inputs, x = inputs_to_base(arch, data_size, image_size)
    # training=False keeps every BatchNormalization layer of the base in inference mode, also when
    # unfrozen: the study's ResNet50 collapse (~49%) is the failure mode this avoids.
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if head.get("dropout_before_dense", 0):
        x = keras.layers.Dropout(head["dropout_before_dense"], name="dropout_gap")(x)
    if arch.get("head_batchnorm", False):
        # several devices sharing each batch (training.distribution): the whole batch's statistics, as on one
        synchronized = tf.distribute.get_strategy().num_replicas_in_sync > 1
        x = keras.layers.BatchNormalization(name="head_bn", synchronized=synchronized)(x)
    x = keras.layers.Dense(head["dense_units"], activation="relu", name="dense")(x)
    x = keras.layers.Dropout(head["dropout"], name="dropout")(x)
    # float32 keeps the softmax numerically safe under mixed precision. The logits are a layer of their
    # own so attacks can differentiate them from the saved model (a saturated softmax masks the gradient).
    logits = keras.layers.Dense(n_classes, dtype="float32", name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="predictions")(logits)
    return keras.Model(inputs, outputs, name=f"{arch['constructor']}_finetune"), base


def _in_block(layer_name: str, prefixes: list[str]) -> bool:
    # `block_1` must not match `block_16_expand`: a prefix matches whole name parts only.
    return any(layer_name == p or layer_name.startswith(p + "_") for p in prefixes)


def set_trainable_blocks(base: keras.Model, blocks: list[list[str]], n_blocks: int) -> list[str]:
    """Unfreeze the last `n_blocks` configured blocks of `base` (BatchNorm stays frozen); freeze the rest.

    `blocks` lists layer-name prefixes per block, last block first. Returns the trainable layer names.
    The caller must (re)compile afterwards: Keras reads `trainable` at compile time.
    """
    if n_blocks > len(blocks):
        raise ConfigError(f"strategy unfreezes {n_blocks} blocks but {base.name} has {len(blocks)} configured")
    prefixes = [p for block in blocks[:n_blocks] for p in block]
    base.trainable = True  # a no-op when already True: the per-layer flags below are what counts
    trainable = []
    for layer in base.layers:
        layer.trainable = _in_block(layer.name, prefixes) and not isinstance(
            layer, keras.layers.BatchNormalization
        )
        if layer.trainable and layer.weights:
            trainable.append(layer.name)
    unmatched = [p for p in prefixes if not any(_in_block(layer.name, [p]) for layer in base.layers)]
    if unmatched:
        raise ConfigError(f"{base.name}: no layer name starts with the configured block prefix(es) {unmatched}")
    return trainable
