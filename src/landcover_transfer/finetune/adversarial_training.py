"""Adversarial training, the defense of Question 4: an augmentation policy with an `Adversarial` entry trains
on batches mixed with FGSM or PGD examples crafted against the current weights.

Part of a training's definition (a change to what it computes bumps `training_definition.DEFINITION_VERSION`),
kept apart from the attacks so that a change to how models are attacked does not retrain them.
"""

from __future__ import annotations

import logging

import keras

from landcover_transfer.attacks import ATTACKS, PIXEL_RANGE, logits_model
from landcover_transfer.workflow.config import ADVERSARIAL_ENTRY
from landcover_transfer.workflow.errors import ConfigError

log = logging.getLogger(__name__)

_ADVERSARIAL_DEFAULTS = {"attack": "pgd", "eps": 2.0, "steps": 3, "relative_step_size": 0.5, "random_start": True,
                         "fraction": 1.0}


def split_adversarial(augmentation: list[dict]) -> tuple[list[dict], dict | None]:
    """An augmentation policy's Keras layers, and its `Adversarial` entry (with defaults) or None."""
    layers = [entry for entry in augmentation if ADVERSARIAL_ENTRY not in entry]
    entries = [entry[ADVERSARIAL_ENTRY] or {} for entry in augmentation if ADVERSARIAL_ENTRY in entry]
    if not entries:
        return layers, None
    if len(entries) > 1:
        raise ConfigError(f"an augmentation policy has {len(entries)} {ADVERSARIAL_ENTRY} entries: keep one")
    unknown = sorted(set(entries[0]) - set(_ADVERSARIAL_DEFAULTS))
    if unknown:
        raise ConfigError(f"{ADVERSARIAL_ENTRY} augmentation: unknown key(s) {', '.join(unknown)} "
                          f"(known: {', '.join(_ADVERSARIAL_DEFAULTS)})")
    settings = {**_ADVERSARIAL_DEFAULTS, **entries[0]}
    if settings["attack"] not in ATTACKS or settings["eps"] <= 0 or not 0 < settings["fraction"] <= 1:
        raise ConfigError(f"{ADVERSARIAL_ENTRY} augmentation {entries[0]}: attack must be one of "
                          f"{', '.join(ATTACKS)}, eps > 0 (1/255 units), fraction in (0, 1]")
    return layers, settings


def craft_linf(logits, x, y, *, eps: float, steps: int, step_size: float, random_start: bool):
    """Sign-of-gradient ascent on the cross-entropy of `logits`, projected on the eps ball and 0..255.

    One step of size eps from x is FGSM; several with a random start are Madry's PGD. Written in
    TensorFlow (not ART) because it runs inside the compiled `train_step`.
    """
    import tensorflow as tf

    x_adv = x + tf.random.uniform(tf.shape(x), -eps, eps) if random_start else x
    for _ in range(steps):  # unrolled when traced: steps is a small constant
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            loss = keras.losses.sparse_categorical_crossentropy(y, logits(x_adv, training=False), from_logits=True)
        x_adv = x_adv + step_size * tf.sign(tape.gradient(loss, x_adv))
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - eps, x + eps), *PIXEL_RANGE)
    return tf.stop_gradient(x_adv)


class _AdversarialBatches:
    """Replaces the first `fraction` of each batch by adversarial examples against the current weights.

    A plain object, not a Layer, so Keras does not track the logits model as extra weights.
    """

    def __init__(self, model: keras.Model, settings: dict):
        self.logits = logits_model(model)
        self.settings = settings

    def __call__(self, x, y):
        import tensorflow as tf

        s = self.settings
        single = s["attack"] == "fgsm"
        n_adversarial = tf.cast(tf.round(s["fraction"] * tf.cast(tf.shape(x)[0], tf.float32)), tf.int32)
        crafted = craft_linf(self.logits, x[:n_adversarial], y[:n_adversarial], eps=float(s["eps"]),
                             steps=1 if single else s["steps"],
                             step_size=float(s["eps"] if single else s["eps"] * s["relative_step_size"]),
                             random_start=not single and s["random_start"])
        return tf.concat([crafted, x[n_adversarial:]], axis=0)


class AdversarialTraining(keras.Model):
    """A functional model whose `fit` trains on batches mixed with adversarial examples (keras.io's
    "customizing what happens in fit"). Same layers and weights as the model it is built from, so its
    checkpoints, backups and saved inference model are those of a plain variant."""

    def __init__(self, *args, adversarial: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self._adversarial_batches = _AdversarialBatches(self, adversarial)

    def train_step(self, data):
        x, y = data
        return super().train_step((self._adversarial_batches(x, y), y))


def with_adversarial_training(model: keras.Model, adversarial: dict | None) -> keras.Model:
    """`model` itself, or the same layers trained adversarially when the policy has an `Adversarial` entry."""
    if adversarial is None:
        return model
    log.info("adversarial training: %s", adversarial)
    return AdversarialTraining(model.inputs, model.outputs, adversarial=adversarial, name=model.name)
