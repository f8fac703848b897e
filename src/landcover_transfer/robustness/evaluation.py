"""Adversarial robustness (the study's Question 4): the attacks of `attacks.py` evaluated, and their transfer.

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
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from landcover_transfer.attacks import art_classifier, logits_model, perturb
from landcover_transfer.finetune.training import predict_proba
from landcover_transfer.workflow.errors import ConfigError, DataError

log = logging.getLogger(__name__)

SEED_FOLDER = re.compile(r"seed\d+")


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
    from landcover_transfer.ensemble.members import load_candidates, member_trainings

    return list(member_trainings(load_candidates(metrics_paths), spec))


def predict(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """The model's outputs, through the training's own input pipeline: Keras' pipeline for arrays logs a
    TensorFlow error line (unknown `use_unbounded_threadpool` attribute) at every call."""
    return predict_proba(model, x.astype(np.float32), batch_size)


def predict_labels(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    return predict(model, x, batch_size).argmax(axis=1)


def evaluate_attack(logits: keras.Model, name: str, x: np.ndarray, y: np.ndarray, settings: dict,
                    classifier=None) -> tuple[dict, list[np.ndarray]]:
    """Robust accuracy at every eps of `settings['eps']` (ascending), and the adversarial images of each eps.

    An image broken at a smaller eps stays broken at the larger ones (that image lies in the larger ball
    too), so accuracy never rises with eps and the kept images reproduce it. Per eps the result dict holds
    `accuracy`, `seconds` (attack time) and `max_perturbation` (largest L-infinity change, for the record).
    `classifier`: ART's wrapper of `logits` (`art_classifier`), shared by the attacks of one model so that its
    gradient is traced once (measured: 5 s of a 35 s job on the demo's ensemble surrogate); built when absent.
    """
    classifier = classifier or art_classifier(logits)
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
    from landcover_transfer.classical.features import extract

    last = {}

    def features(images: np.ndarray) -> np.ndarray:
        if last.get("images") is not images:
            last.update(images=images, features=extract(extractor, images, batch_size, "transfer"))
        return last["features"]

    return features


def classical_predictor(features: Callable[[np.ndarray], np.ndarray], estimator,
                        n_classes: int) -> Callable[[np.ndarray], np.ndarray]:
    """Images -> frozen features -> a fitted scikit-learn model's probabilities (no gradient to attack)."""
    from landcover_transfer.classical.estimators import full_proba

    return lambda images: full_proba(estimator, features(images), n_classes)


def fit_classical(specs: dict, features: dict, fit_index: np.ndarray, n_jobs: int | None = None) -> dict:
    """The classical models refitted exactly as rule train_classical fits them (seeded), by name."""
    from landcover_transfer.classical.estimators import build_model

    return {name: build_model(spec, n_jobs).fit(features["train"][fit_index], features["y_train"][fit_index])
            for name, spec in specs.items()}


def check_extractor(extractor: keras.Model, x: np.ndarray, stored: np.ndarray, batch_size: int) -> None:
    """The rebuilt feature extractor must reproduce the features the classical models were fitted on."""
    from landcover_transfer.classical.features import extract

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
    from landcover_transfer.ensemble.methods import run_ensemble

    def combine(probas: dict) -> dict:
        member_probas = [probas[name] for name in members]
        return {f"ensemble/{method}": run_ensemble(method, members, probas_selection, member_probas, y_selection, y,
                                                   config)[0]
                for method in methods}

    return combine

