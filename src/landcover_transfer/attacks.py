"""The attacks, shared by attack evaluation (`robustness`) and adversarial training: FGSM, PGD and AutoAttack with
the Adversarial Robustness Toolbox, on the pre-softmax logits of a model that takes 0..255 pixels.

Threat model: L-infinity in raw pixel space, so an eps of k/255 in the usual [0, 1] convention is a perturbation
of k pixel levels here. Attacks differentiate the `logits` layer: a saturated softmax output masks the gradient.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from landcover_transfer.workflow.errors import ConfigError, DataError

ATTACKS = ("fgsm", "pgd")  # also the attacks of adversarial training
EVALUATION_ATTACKS = (*ATTACKS, "autoattack")
PIXEL_RANGE = (0.0, 255.0)


def logits_model(model: keras.Model, name: str | None = None) -> keras.Model:
    """The same layers up to the pre-softmax `logits` layer."""
    try:
        logits = model.get_layer("logits").output
    except ValueError:
        raise DataError(f"model {model.name} has no 'logits' layer (saved before attacks existed): "
                        "retrain it (delete its folder under results/finetune)") from None
    return keras.Model(model.inputs, logits, name=name or f"{model.name}_logits")


def art_classifier(logits: keras.Model):
    """ART's wrapper of a logits model: cross-entropy on logits, pixels clipped to 0..255."""
    import tensorflow as tf

    with warnings.catch_warnings():  # ART's certification package warns on import that PyTorch is absent
        warnings.filterwarnings("ignore", message="PyTorch not found")
        from art.estimators.classification import TensorFlowV2Classifier

    # ART calls the model eagerly inside its GradientTape; as a tf.function each step runs as one graph
    # (measured: 0.44 s instead of 10 s for PGD-3 on 36 images, MobileNetV2 at 32 px, after tracing).
    forward = tf.function(lambda images, training=False: logits(images, training=training), reduce_retracing=True)
    return TensorFlowV2Classifier(
        model=forward, nb_classes=logits.output_shape[-1], input_shape=tuple(logits.input_shape[1:]),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), clip_values=PIXEL_RANGE,
    )


def make_attack(name: str, classifier, eps: float, settings: dict):
    """An ART evasion attack at L-infinity radius `eps` (pixel levels), untargeted."""
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent

    batch_size = settings["batch_size"]
    if name == "autoattack":
        return AutoAttack(classifier, eps, settings["autoattack"], batch_size)
    if name == "fgsm":
        return FastGradientMethod(classifier, norm=np.inf, eps=eps, eps_step=eps, batch_size=batch_size)
    if name == "pgd":
        pgd = settings["pgd"]
        return ProjectedGradientDescent(
            classifier, norm=np.inf, eps=eps, eps_step=eps * pgd["relative_step_size"], max_iter=pgd["steps"],
            num_random_init=int(pgd["random_start"]), batch_size=batch_size, verbose=False,
        )
    raise ConfigError(f"unknown attack '{name}': choose one of {', '.join(EVALUATION_ATTACKS)}")


class AutoAttack:
    """AutoAttack's untargeted L-infinity ensemble (Croce and Hein 2020) from ART's attacks: APGD with the
    cross-entropy loss, APGD with the difference-of-logits-ratio loss (scale-invariant: not fooled by large logits),
    then Square, which uses no gradient at all (not fooled by a masked one). Each image keeps the first
    adversarial version that the model gets wrong; the next attack only tries the images still right.

    Composed here rather than through ART's `AutoAttack` class, which needs the `multiprocess` package (for an
    option this workflow does not use) and adds DeepFool, an attack without an eps bound. Steps, restarts and
    Square's queries are config: the paper's 100 steps, 5 restarts and 5,000 queries cost hours per model on a CPU.
    """

    def __init__(self, classifier, eps: float, settings: dict, batch_size: int):
        from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack

        self.classifier = classifier
        self.attacks = [AutoProjectedGradientDescent(
            classifier, norm=np.inf, eps=eps, eps_step=2 * eps, max_iter=settings["steps"], targeted=False,
            nb_random_init=settings["restarts"], batch_size=batch_size, loss_type=loss, verbose=False)
            for loss in ("cross_entropy", "difference_logits_ratio")]
        self.attacks.append(SquareAttack(classifier, norm=np.inf, eps=eps, max_iter=settings["square_queries"],
                                         nb_restarts=1, batch_size=batch_size, verbose=False))

    def generate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        adversarial = x.copy()
        still_right = self.classifier.predict(x).argmax(axis=1) == y
        for attack in self.attacks:
            if not still_right.any():
                break
            index = np.flatnonzero(still_right)
            candidates = attack.generate(x=x[index], y=y[index])
            fooled = self.classifier.predict(candidates).argmax(axis=1) != y[index]
            adversarial[index[fooled]] = candidates[fooled]
            still_right[index[fooled]] = False
        return adversarial


def perturb(name: str, classifier, x: np.ndarray, y: np.ndarray, eps: float, settings: dict) -> np.ndarray:
    """Adversarial versions of `x` (true labels `y`, so no label leaking); eps 0 returns `x` itself."""
    if eps == 0:
        return x
    # PGD's random start: the same images for every rerun. ART draws it from numpy's global generator; seeding
    # TensorFlow too (keras.utils.set_random_seed) retraced the attack's tf.function at every eps (measured:
    # 6.4 s instead of 0.8 s for FGSM on 90 images, MobileNetV2 at 64 px).
    np.random.seed(settings["seed"])
    return make_attack(name, classifier, eps, settings).generate(x=x, y=y)
