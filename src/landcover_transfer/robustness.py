"""Adversarial robustness (the study's Question 4): FGSM and PGD with the Adversarial Robustness Toolbox.

Threat model: L-infinity in raw pixel space. Every model takes 0..255 pixels (preprocessing is inside it),
so an eps of k/255 in the usual [0, 1] convention is a perturbation of k pixel levels here, and the
config's eps grid (in 1/255 units) is used as is. Attacks differentiate the `logits` layer: a saturated
softmax output masks the gradient. Robust accuracy is measured on a fixed, seeded, stratified subset of
the evaluation split, the same images for every model.
"""

from __future__ import annotations

import logging
import math
import re
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .errors import ConfigError, DataError

log = logging.getLogger(__name__)

ATTACKS = ("fgsm", "pgd")  # also the attacks of adversarial training
EVALUATION_ATTACKS = (*ATTACKS, "autoattack")
PIXEL_RANGE = (0.0, 255.0)
SEED_FOLDER = re.compile(r"seed\d+")


def load_model(path: str | Path) -> keras.Model:
    """A saved model, deserialised in Keras safe mode (no arbitrary code such as Lambda layers)."""
    from . import models  # noqa: F401  (registers the Preprocess layer every saved variant contains)

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except (ValueError, TypeError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path}: cannot load the model in Keras safe mode ({first_line}); "
                        "only models saved by this workflow can be attacked") from None


def logits_model(model: keras.Model, name: str | None = None) -> keras.Model:
    """The same layers up to the pre-softmax `logits` layer."""
    try:
        logits = model.get_layer("logits").output
    except ValueError:
        raise DataError(f"model {model.name} has no 'logits' layer (saved before attacks existed): "
                        "retrain it (delete its folder under results/finetune)") from None
    return keras.Model(model.inputs, logits, name=name or f"{model.name}_logits")


def ensemble_logits_model(members: Sequence[keras.Model]) -> keras.Model:
    """Differentiable surrogate of an ensemble: log of the mean of the members' probabilities.

    Its softmax is the soft vote; computed as logsumexp of the members' log-softmax, so it stays finite
    where a member's softmax saturates.
    """
    inputs = keras.Input(shape=members[0].input_shape[1:], name="pixels")
    log_probas = [keras.ops.log_softmax(logits_model(m, name=f"member_{i}")(inputs))
                  for i, m in enumerate(members)]
    outputs = keras.ops.logsumexp(keras.ops.stack(log_probas), axis=0) - math.log(len(members))
    return keras.Model(inputs, outputs, name="ensemble_surrogate")


def attack_subset(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a stratified, seeded subset of `size` images (all of them when size >= len(y))."""
    n_classes = len(np.unique(y))
    if size >= len(y):
        return np.arange(len(y))
    if size < n_classes:
        raise ConfigError(f"robustness.subset_size {size} is below the {n_classes} classes: "
                          f"use at least {n_classes} so every class is attacked")
    chosen, _ = train_test_split(np.arange(len(y)), train_size=size, stratify=y, random_state=seed)
    return np.sort(chosen)


def attack_set(dataset, splits, settings: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The images, labels and evaluation-split indices every model is attacked on (`attack_subset`)."""
    arrays = splits.arrays(dataset)
    index = attack_subset(arrays["y_evaluation"], settings["subset_size"], settings["seed"])
    return arrays["x_evaluation"][index].astype(np.float32), arrays["y_evaluation"][index], index


def result_id(path: str | Path) -> str:
    """The model id of a file in a result folder under results/: 'classical/{model}', or 'finetune/{arch}/
    {strategy}/{aug}' for a training's file (results/finetune/.../seed{n}/; attacks and ensembles use one seed
    per variant)."""
    folder = Path(path).parent.relative_to("results")
    return (folder.parent if SEED_FOLDER.fullmatch(folder.name) else folder).as_posix()


def finetune_members(metrics_paths: Sequence[str | Path], spec) -> list[str]:
    """The fine-tuned ensemble members ('finetune/arch/strategy/aug'), chosen as rule `ensemble` does, each of its
    first seed (the metrics given)."""
    from .ensemble import load_candidates, member_trainings

    return list(member_trainings(load_candidates(metrics_paths), spec))


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


def predict(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """The model's outputs, through the training's own input pipeline: Keras' pipeline for arrays logs a
    TensorFlow error line (unknown `use_unbounded_threadpool` attribute) at every call."""
    from .training import predict_proba  # training imports this module (adversarial training)

    return predict_proba(model, x.astype(np.float32), batch_size)


def predict_labels(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    return predict(model, x, batch_size).argmax(axis=1)


def evaluate_attack(logits: keras.Model, name: str, x: np.ndarray, y: np.ndarray,
                    settings: dict) -> tuple[dict, list[np.ndarray]]:
    """Robust accuracy at every eps of `settings['eps']` (ascending), and the adversarial images of each eps.

    An image broken at a smaller eps stays broken at the larger ones (that image lies in the larger ball
    too), so accuracy never rises with eps and the kept images reproduce it. Per eps the result dict holds
    `accuracy`, `seconds` (attack time) and `max_perturbation` (largest L-infinity change, for the record).
    """
    classifier = art_classifier(logits)
    x = x.astype(np.float32)
    result = {"attack": name, "n_images": len(x), "eps": [], "accuracy": [], "seconds": [], "max_perturbation": []}
    adversarial, worst, broken = [], x, np.zeros(len(x), dtype=bool)
    for eps in sorted(settings["eps"]):
        started = time.time()
        x_adv = perturb(name, classifier, x, y, float(eps), settings)
        seconds = time.time() - started
        worst = np.where(broken[:, None, None, None], worst, x_adv)
        broken |= predict_labels(logits, x_adv, settings["batch_size"]) != y
        result["eps"].append(eps)
        result["accuracy"].append(float(np.mean(~broken)))
        result["seconds"].append(round(seconds, 2))
        result["max_perturbation"].append(float(np.abs(worst - x).max()))
        adversarial.append(worst)
        log.info("%s eps %s/255: accuracy %.4f (%.1f s)", name, eps, result["accuracy"][-1], seconds)
    return result, adversarial


# ---------------------------------------------------------------- transfer

def keras_predictor(model: keras.Model, batch_size: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda images: predict(model, images, batch_size)


def shared_features(extractor: keras.Model, batch_size: int) -> Callable[[np.ndarray], np.ndarray]:
    """images -> frozen features, extracted once per images array: the classical models of one source share it."""
    from .features import extract

    last = {}

    def features(images: np.ndarray) -> np.ndarray:
        if last.get("images") is not images:
            last.update(images=images, features=extract(extractor, images, batch_size, "transfer"))
        return last["features"]

    return features


def classical_predictor(features: Callable[[np.ndarray], np.ndarray], estimator,
                        n_classes: int) -> Callable[[np.ndarray], np.ndarray]:
    """Images -> frozen features -> a fitted scikit-learn model's probabilities (no gradient to attack)."""
    from .classical import full_proba

    return lambda images: full_proba(estimator, features(images), n_classes)


def fit_classical(specs: dict, features: dict, fit_index: np.ndarray, n_jobs: int | None = None) -> dict:
    """The classical models refitted exactly as rule train_classical fits them (seeded), by name."""
    from .classical import build_model

    return {name: build_model(spec, n_jobs).fit(features["train"][fit_index], features["y_train"][fit_index])
            for name, spec in specs.items()}


def check_extractor(extractor: keras.Model, x: np.ndarray, stored: np.ndarray, batch_size: int) -> None:
    """The rebuilt feature extractor must reproduce the features the classical models were fitted on."""
    from .features import extract

    ours = extract(extractor, x, batch_size, "check")
    if not np.allclose(ours, stored, rtol=1e-3, atol=1e-3 * float(np.abs(stored).max())):
        raise DataError("results/features/features.npz was computed by another feature extractor than the one "
                        "the transfer matrix rebuilds (weights changed?): rerun --forcerun extract_features")


def transfer_matrix(sources: dict[str, np.ndarray], predictors: dict[str, Callable[[np.ndarray], np.ndarray]],
                    y: np.ndarray, combine: Callable[[dict], dict] | None = None) -> pd.DataFrame:
    """Accuracy (rows: source of the images, columns: target model) of every target on every source's images.

    `predictors` map a target name to images -> probabilities; `combine` adds targets computed from those
    probabilities (the ensembles), so every model is run once per source.
    """
    rows = {}
    for source, images in sources.items():
        probas = {name: predict(images) for name, predict in predictors.items()}
        probas.update(combine(probas) if combine else {})
        rows[source] = {name: float(np.mean(proba.argmax(axis=1) == y)) for name, proba in probas.items()}
        log.info("transfer from %s: %s", source, ", ".join(f"{k} {v:.3f}" for k, v in rows[source].items()))
    matrix = pd.DataFrame.from_dict(rows, orient="index")
    matrix.index.name = "source"
    return matrix


def ensemble_combiner(methods: Sequence[str], members: Sequence[str], probas_selection: Sequence[np.ndarray],
                      y_selection: np.ndarray, y: np.ndarray, config: dict) -> Callable[[dict], dict]:
    """`combine` for `transfer_matrix`: each configured ensemble method over its members' probabilities
    (the voting ones have no gradient: they are attacked only through transfer)."""
    from .ensemble import run_ensemble

    def combine(probas: dict) -> dict:
        member_probas = [probas[name] for name in members]
        return {f"ensemble/{method}": run_ensemble(method, members, probas_selection, member_probas, y_selection, y,
                                                   config)[0]
                for method in methods}

    return combine

