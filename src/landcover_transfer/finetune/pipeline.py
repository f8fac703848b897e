"""The input pipeline of a training: augmentation layers (the config's policies) and tf.data batches."""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.config import is_op_determinism_enabled  # no public twin of enable_op_determinism

from landcover_transfer.finetune.adversarial_training import split_adversarial
from landcover_transfer.workflow.errors import ConfigError

log = logging.getLogger(__name__)

@keras.saving.register_keras_serializable(package="landcover_transfer")
class RandomDihedral(keras.layers.RandomFlip):
    """Each square image in one of its 8 orientations (4 rotations by 90 degrees, each mirrored or not), uniformly
    at random: a transpose, a left-right and an up-down flip, each with probability 1/2, independently. Exact
    (no interpolation, no fill). Keras has no 90-degree rotation layer, and its RandomFlip in mode
    horizontal_and_vertical flips both axes or neither (2 of the 8 orientations)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(mode="horizontal_and_vertical", seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("mode")
        return config

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        shape = self.backend.core.shape(data["images"] if isinstance(data, dict) else data)
        draws = self.backend.random.uniform((3, shape[0], 1, 1, 1), seed=seed or self._get_seed_generator(
            self.backend._backend))
        return {"flips": self.backend.numpy.less(draws, 0.5), "input_shape": shape}

    def transform_images(self, images, transformation, training=True):
        images = self.backend.cast(images, self.compute_dtype)
        if not training or transformation is None:
            return images
        transpose, left_right, up_down = (transformation["flips"][i] for i in range(3))
        numpy = self.backend.numpy
        images = numpy.where(transpose, numpy.transpose(images, (0, 2, 1, 3)), images)  # square images only
        images = numpy.where(left_right, numpy.flip(images, axis=2), images)
        return numpy.where(up_down, numpy.flip(images, axis=1), images)


#: Augmentation layers of this project, usable in a policy by name beside those of keras.layers.
AUGMENTATION_LAYERS = {"RandomDihedral": RandomDihedral}


def build_augmentation(layers: list[dict], seed: int) -> keras.Sequential | None:
    """Keras preprocessing layers from config entries like `{RandomFlip: {mode: horizontal}}`."""
    if not layers:
        return None
    built = []
    for entry in layers:
        (name, kwargs), = entry.items()
        layer_class = AUGMENTATION_LAYERS.get(name) or getattr(keras.layers, name, None)
        if layer_class is None:
            raise ConfigError(f"augmentation layer '{name}' is neither a keras.layers class nor one of "
                              f"{', '.join(AUGMENTATION_LAYERS)}")
        try:
            built.append(layer_class(**(kwargs or {}), seed=seed))
        except (TypeError, ValueError, NotImplementedError) as error:  # Keras: NotImplementedError for a bad fill_mode
            raise ConfigError(f"augmentation layer {name} {kwargs}: {error}") from None
    return keras.Sequential(built, name="augmentation")


def probe_augmentations(policies: dict[str, list[dict]], seed: int = 0, draws: int = 8) -> list[str]:
    """Problems of augmentation policies, found by building each layer and applying it to a probe batch.

    A layer that builds but never changes an image is misconfigured (e.g. `RandomFlip: {mode: diagonal}`
    is accepted by Keras and then flips nothing), so each layer must change the probe in `draws` tries.
    """
    probe = np.random.default_rng(seed).uniform(0, 255, (draws, 16, 16, 3)).astype("float32")
    problems = []
    for name, policy in policies.items():
        try:
            layers, _ = split_adversarial(policy)  # adversarial training is checked, not probed: it needs a model
        except ConfigError as error:
            problems.append(f"augmentations.{name}: {error}")
            continue
        for entry in layers:
            (layer_name, kwargs), = entry.items()
            try:
                layer = build_augmentation([entry], seed)
                changed = not np.allclose(keras.ops.convert_to_numpy(layer(probe, training=True)), probe)
            except (ConfigError, TypeError, ValueError, NotImplementedError) as error:
                problems.append(f"augmentations.{name}: {layer_name} {kwargs}: {error}")
                continue
            if not changed:
                problems.append(f"augmentations.{name}: {layer_name} {kwargs} left every image unchanged: "
                                f"check its arguments against keras.layers.{layer_name}")
    return problems


def evaluation_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, replicas: int = 1) -> tf.data.Dataset:
    """Batches of (float32 pixels, labels) to evaluate in order. Split among `replicas` devices, every batch must
    split evenly (Keras fails on uneven ones): the batch size is rounded down to a multiple of the devices and the
    images are padded to one with copies of the last, weighted 0, so that the accuracy is the images' own (the
    loss of the last batch is averaged over its copies too: at most replicas - 1 images diluting one batch)."""
    if replicas == 1:
        return make_dataset(x, y, batch_size, shuffle=False, seed=0)
    padding = -len(x) % replicas
    weights = np.r_[np.ones(len(x)), np.zeros(padding)].astype("float32")
    x = np.concatenate([x, np.repeat(x[-1:], padding, axis=0)])
    y = np.concatenate([y, np.repeat(y[-1:], padding)]).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x.astype("float32"), y, weights))
    return ds.batch(max(replicas, batch_size - batch_size % replicas)).prefetch(tf.data.AUTOTUNE)


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool, seed: int,
                 augmentation: keras.Sequential | None = None, replicas: int = 1) -> tf.data.Dataset:
    """Batches of (float32 0..255 pixels, integer labels); augmentation runs on the fly in the pipeline. Split
    among `replicas` devices, a last batch of fewer images than devices is dropped (a device given none fails the
    step): up to replicas - 1 images an epoch, different ones each epoch when shuffled."""
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype("int32")))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)

    def to_model_input(images, labels):
        images = tf.cast(images, tf.float32)
        return (images if augmentation is None else augmentation(images, training=True)), labels

    # Under op determinism (training.deterministic) tf.data runs a pipeline with random ops serially anyway;
    # asked for parallel maps, it rewrites them and logs an error-level line (E0000 ... use_unbounded_threadpool).
    serial = augmentation is not None and is_op_determinism_enabled()
    drop = 0 < len(x) % batch_size < replicas
    ds = ds.batch(batch_size, drop_remainder=drop).map(to_model_input,
                                                       num_parallel_calls=None if serial else tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
