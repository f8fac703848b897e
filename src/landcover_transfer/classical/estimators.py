"""Classical models on frozen features (the study's Question 1), as scikit-learn Pipelines."""

from __future__ import annotations

import logging
import time

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from landcover_transfer.workflow.atomic_files import progress
from landcover_transfer.workflow.errors import ConfigError

log = logging.getLogger(__name__)


def _xgboost(**params):
    from xgboost import XGBClassifier
    from xgboost.callback import TrainingCallback

    class Progress(TrainingCallback):
        """Boosting rounds done, with an ETA, in the log every ~10% of `n_estimators`."""

        def before_training(self, model):
            self.started = time.monotonic()
            return model

        def after_iteration(self, model, epoch, evals_log):
            rounds = params.get("n_estimators", 100)
            if (epoch + 1) % max(1, rounds // 10) == 0 or epoch + 1 == rounds:
                log.info("xgboost: %s", progress(epoch + 1, rounds, time.monotonic() - self.started, "rounds"))
            return False  # keep training

    return XGBClassifier(**params, callbacks=[Progress()])


def _linear_svm(**params):
    # LinearSVC has no predict_proba (and SVC(probability=True) is deprecated in scikit-learn 1.9):
    # calibrated probabilities feed the ensembles.
    return CalibratedClassifierCV(LinearSVC(**params), cv=3)


ESTIMATORS = {
    "LogisticRegression": LogisticRegression,
    "RandomForestClassifier": RandomForestClassifier,
    "LinearSVC": _linear_svm,
    "SVC": lambda **params: CalibratedClassifierCV(SVC(**params), cv=3),
    "XGBClassifier": _xgboost,
}


# Estimators that take `n_jobs`: the job's threads, unless the config sets it.
PARALLEL = {"RandomForestClassifier", "XGBClassifier"}


def build_model(spec: dict, n_jobs: int | None = None, name: str = "model"):
    """A Pipeline from the config entry classical.models.<name>: {estimator, scale, params}.

    Parameters scikit-learn would reject only when fitting (`C: -1`) are a ConfigError naming the entry now.
    """
    factory = ESTIMATORS.get(spec["estimator"])
    if factory is None:
        raise ConfigError(f"unknown estimator '{spec['estimator']}' (known: {', '.join(ESTIMATORS)})")
    params = dict(spec.get("params", {}))
    if n_jobs and spec["estimator"] in PARALLEL:
        params.setdefault("n_jobs", n_jobs)
    steps = [StandardScaler()] if spec.get("scale") else []
    try:
        model = make_pipeline(*steps, factory(**params))
        _validate_params(model)
    except (TypeError, ValueError) as error:  # InvalidParameterError is both
        raise ConfigError(f"classical.models.{name}.params: {error}") from None
    return model


def _validate_params(model) -> None:
    """Run scikit-learn's own parameter check, which `fit` runs first, on the pipeline and each estimator in it."""
    for part in (model, *model.get_params(deep=True).values()):
        if hasattr(part, "_parameter_constraints"):
            part._validate_params()


def _parameter_errors(spec: dict) -> tuple[type[Exception], ...]:
    """What the estimator raises when fitting starts with a parameter it rejects (XGBoost checks only then)."""
    if spec["estimator"] == "XGBClassifier":
        from xgboost.core import XGBoostError

        return (XGBoostError,)
    return ()


def fit_and_predict(spec: dict, x_fit: np.ndarray, y_fit: np.ndarray, selection: tuple[np.ndarray, np.ndarray | None],
                    x_evaluation: np.ndarray, n_classes: int, n_jobs: int | None = None,
                    name: str = "model") -> tuple[np.ndarray, np.ndarray, float]:
    """Fit on the fit split; class probabilities on the selection and evaluation splits, and the fit time.

    `selection` is the selection split's features and labels; an estimator with `early_stopping_rounds` (XGBoost)
    stops on it, which needs the labels.
    """
    started = time.time()
    model = fit_model(spec, x_fit, y_fit, selection, n_jobs, name)
    fit_time = time.time() - started
    return full_proba(model, selection[0], n_classes), full_proba(model, x_evaluation, n_classes), fit_time


def seed_accuracies(spec: dict, seeds: list[int], x_fit: np.ndarray, y_fit: np.ndarray,
                    selection: tuple[np.ndarray, np.ndarray | None], x_evaluation: np.ndarray,
                    y_evaluation: np.ndarray, n_jobs: int | None = None, name: str = "model") -> dict[str, float]:
    """Evaluation accuracy of the model refitted with each of `seeds` as its `random_state`: the spread that the
    seed alone causes. Empty for a model without a `random_state` in its params (nothing random to repeat)."""
    if "random_state" not in spec.get("params", {}):
        return {}
    return {str(seed): float(np.mean(fit_model({**spec, "params": {**spec["params"], "random_state": seed}},
                                             x_fit, y_fit, selection, n_jobs, name).predict(x_evaluation)
                                     == y_evaluation))
            for seed in seeds}


def fit_model(spec: dict, x_fit: np.ndarray, y_fit: np.ndarray, selection: tuple[np.ndarray, np.ndarray | None],
              n_jobs: int | None = None, name: str = "model"):
    """The model of `spec` fitted on the fit split (stopping early on `selection` where its params say so)."""
    model = build_model(spec, n_jobs, name)
    try:
        if stops_early(spec):
            fit_stopping_on_selection(model, x_fit, y_fit, *selection, name)
        else:
            model.fit(x_fit, y_fit)
    except _parameter_errors(spec) as error:
        raise ConfigError(f"classical.models.{name}.params: {str(error).splitlines()[0]}") from None
    return model


def stops_early(spec: dict) -> bool:
    return bool(spec.get("params", {}).get("early_stopping_rounds"))


def fit_stopping_on_selection(model, x_fit, y_fit, x_selection, y_selection, name: str = "model") -> None:
    """Fit a Pipeline whose estimator stops early on the selection split (never the evaluation split).

    The estimator sees the selection images through the same fitted steps (e.g. the scaler) as its fit images,
    so the Pipeline's steps are fitted one by one here rather than by `Pipeline.fit`.
    """
    if y_selection is None:
        raise ConfigError(f"classical.models.{name}.params: early_stopping_rounds needs the selection split's labels")
    x_fit_steps, x_selection_steps = x_fit, x_selection
    for _, step in model.steps[:-1]:
        x_fit_steps = step.fit_transform(x_fit_steps, y_fit)
        x_selection_steps = step.transform(x_selection_steps)
    # XGBoost then predicts with the best round (best_iteration), not the last.
    model.steps[-1][1].fit(x_fit_steps, y_fit, eval_set=[(x_selection_steps, y_selection)], verbose=False)


def full_proba(model, x: np.ndarray, n_classes: int, dtype=np.float32) -> np.ndarray:
    """A fitted scikit-learn model's predict_proba with one column per class 0..n_classes-1 (classes
    absent from the fit data get 0), as `dtype`."""
    proba = np.zeros((len(x), n_classes), dtype=dtype)
    proba[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(x)
    return proba
