"""Stacking: a meta-learner fitted on the members' selection-split probabilities (never on evaluation labels)."""

from __future__ import annotations

import inspect
from typing import Mapping, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from landcover_transfer.classical.estimators import full_proba
from landcover_transfer.ensemble.voting import checked_labels, stack_probas
from landcover_transfer.workflow.errors import ConfigError, DataError

#: Meta-learners `stacking` knows by name: (estimator class, scale features first?)
META_LEARNERS = {
    "LogisticRegression": (LogisticRegression, True),
    "RandomForestClassifier": (RandomForestClassifier, False),
    "GradientBoostingClassifier": (GradientBoostingClassifier, False),
    "MLPClassifier": (MLPClassifier, True),
}
_META_DEFAULTS = {
    "LogisticRegression": {"max_iter": 2000},
    "MLPClassifier": {"max_iter": 1000},
}


def make_meta_learner(estimator: str = "LogisticRegression", params: Mapping | None = None,
                      seed: int = 0) -> Pipeline:
    """A scikit-learn Pipeline for a meta-learner named in `META_LEARNERS`."""
    if estimator not in META_LEARNERS:
        raise ConfigError(f"unknown stacking estimator {estimator!r}; choose one of {sorted(META_LEARNERS)}")
    cls, scale = META_LEARNERS[estimator]
    kwargs = {**_META_DEFAULTS.get(estimator, {}), **dict(params or {})}
    if "random_state" in inspect.signature(cls).parameters:
        kwargs.setdefault("random_state", seed)
    try:
        model = cls(**kwargs)
    except TypeError as error:
        raise ConfigError(f"bad parameters for stacking estimator {estimator}: {error}") from None
    return make_pipeline(StandardScaler(), model) if scale else make_pipeline(model)


def _features(stacked: np.ndarray) -> np.ndarray:
    """(M, N, C) -> (N, M*C): member 0's C columns, then member 1's, ..."""
    m, n, c = stacked.shape
    return stacked.transpose(1, 0, 2).reshape(n, m * c)


def _fit_meta(probas_selection, y_selection, estimator, params, seed):
    sel = stack_probas(probas_selection, "probas_selection")
    y = checked_labels(y_selection, sel.shape[1], "y_selection")
    if len(np.unique(y)) < 2:
        raise DataError("stacking needs at least two classes in the selection-split labels")
    if y.min() < 0 or y.max() >= sel.shape[2]:
        raise DataError(f"y_selection holds labels outside 0..{sel.shape[2] - 1}")
    model = make_meta_learner(estimator, params, seed)
    model.fit(_features(sel), y)
    return model, sel, y


def stacking(probas_selection: Sequence[np.ndarray], y_selection, probas_evaluation: Sequence[np.ndarray],
             estimator: str = "LogisticRegression", params: Mapping | None = None, seed: int = 0) -> np.ndarray:
    """(N_eval, C) probabilities of a meta-learner fitted on the members' selection-split probabilities.

    Features are the members' probabilities side by side (N, M*C). The meta-learner is fitted on
    (`probas_selection`, `y_selection`) only, then applied to `probas_evaluation`; columns are mapped
    through `classes_` so all C classes are present even if some never occur in `y_selection`.
    """
    model, sel, _ = _fit_meta(probas_selection, y_selection, estimator, params, seed)
    ev = stack_probas(probas_evaluation, "probas_evaluation")
    if ev.shape[0] != sel.shape[0] or ev.shape[2] != sel.shape[2]:
        raise DataError(f"probas_evaluation has {ev.shape[0]} members x {ev.shape[2]} classes, "
                        f"probas_selection {sel.shape[0]} x {sel.shape[2]}")
    return full_proba(model, _features(ev), ev.shape[2], dtype=np.float64)


def stacking_out_of_fold(probas_selection: Sequence[np.ndarray], y_selection,
                         estimator: str = "LogisticRegression", params: Mapping | None = None,
                         seed: int = 0, n_splits: int = 5) -> np.ndarray | None:
    """(N_sel, C) cross-validated (out-of-fold) stacking probabilities on the selection split.

    An honest stand-in for "the stacked model's predictions on the selection split" (in-sample
    predictions would be optimistic). None when some class has fewer than 2 samples.
    """
    sel = stack_probas(probas_selection, "probas_selection")
    y = checked_labels(y_selection, sel.shape[1], "y_selection")
    counts = np.bincount(y)
    folds = int(min(n_splits, counts[counts > 0].min()))
    if folds < 2 or len(np.unique(y)) < 2:
        return None
    model = make_meta_learner(estimator, params, seed)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(clone(model), _features(sel), y, cv=cv, method="predict_proba")
    out = np.zeros((sel.shape[1], sel.shape[2]))
    out[:, np.unique(y)] = proba  # cross_val_predict orders columns by sorted classes of y
    return out
