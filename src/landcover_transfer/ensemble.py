"""Ensembles of fine-tuned variants (the study's Q3): voting, stacking, member choice, diversity.

Pure numpy / scikit-learn. Every function works on class-probability arrays of shape (N, C), one per
ensemble member, in the same member order throughout.

Tie-break rule (majority vote and weighted vote)
------------------------------------------------
Each member votes for its argmax class. When several classes share the highest vote count (or the
highest summed weight, within 1e-9), the winner is the tied class with the highest *mean probability
over all members*; if that is tied too (exactly equal), the lowest class index wins. The rule is
deterministic and does not depend on member order.

Data separation
---------------
Nothing here chooses or fits anything on the evaluation split: member choice uses only the
`selection_accuracy` of each variant, voting weights come from the members' accuracy on the
selection split, and the stacking meta-learner is fitted on selection-split probabilities and labels
only (`stacking` has no parameter for evaluation labels). Evaluation labels enter `run_ensemble`
solely to describe the finished ensemble (`diversity_report`).
"""

from __future__ import annotations

import inspect
from itertools import combinations
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from .atomic_files import read_json
from .classical import full_proba
from .errors import ConfigError, DataError

METHODS = ("majority_vote", "soft_vote", "weighted_vote", "stacking")

#: Amount added to the winning class's vote share (then renormalised) so that argmax of the vote
#: "probabilities" equals the tie-broken vote. Large enough to survive float32 storage.
TIE_NUDGE = 1e-4

_SCORE_TOLERANCE = 1e-9

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


# --------------------------------------------------------------------------------------------
# input checks


def _stack(probas: Sequence[np.ndarray], what: str = "probas") -> np.ndarray:
    """Members' probabilities as one (M, N, C) float array, with shape checks."""
    if len(probas) == 0:
        raise ConfigError(f"{what}: an ensemble needs at least one member")
    arrays = [np.asarray(p, dtype=np.float64) for p in probas]
    for i, a in enumerate(arrays):
        if a.ndim != 2:
            raise DataError(f"{what}[{i}]: expected an (N, C) probability array, got shape {a.shape}")
        if a.shape != arrays[0].shape:
            raise DataError(f"{what}[{i}]: shape {a.shape} differs from member 0's {arrays[0].shape}")
    return np.stack(arrays)


def _labels(y, n: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{what}: expected {n} labels, got shape {y.shape}")
    return y.astype(np.int64)


# --------------------------------------------------------------------------------------------
# voting


def _tie_broken_argmax(scores: np.ndarray, mean_proba: np.ndarray) -> np.ndarray:
    """Argmax of `scores` (N, C); ties -> highest mean probability, then lowest class index."""
    tied = scores >= scores.max(axis=1, keepdims=True) - _SCORE_TOLERANCE
    return np.where(tied, mean_proba, -np.inf).argmax(axis=1)  # argmax: first (lowest) index on ties


def _votes(stacked: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N, C) sum of member weights per voted class."""
    m, n, c = stacked.shape
    scores = np.zeros((n, c))
    choices = stacked.argmax(axis=2)  # (M, N)
    for member in range(m):
        np.add.at(scores, (np.arange(n), choices[member]), weights[member])
    return scores


def _shares_as_proba(scores: np.ndarray, winner: np.ndarray) -> np.ndarray:
    """Vote shares (rows sum to 1) with `TIE_NUDGE` added to the winner so argmax == winner."""
    shares = scores / scores.sum(axis=1, keepdims=True)
    shares[np.arange(len(winner)), winner] += TIE_NUDGE
    return shares / shares.sum(axis=1, keepdims=True)


def majority_vote_proba(probas: Sequence[np.ndarray]) -> np.ndarray:
    """(N, C) vote shares (fraction of members voting each class); argmax is the plurality vote with
    ties broken as in the module doc."""
    stacked = _stack(probas)
    scores = _votes(stacked, np.ones(len(stacked)))
    return _shares_as_proba(scores, _tie_broken_argmax(scores, stacked.mean(axis=0)))


def soft_vote(probas: Sequence[np.ndarray]) -> np.ndarray:
    """(N, C) mean of the members' probabilities."""
    return _stack(probas).mean(axis=0)


def normalise_weights(weights: Sequence[float], n_members: int) -> np.ndarray:
    """Weights as a float array summing to 1; they must be finite, >= 0, not all 0."""
    w = np.asarray(weights, dtype=np.float64).ravel()
    if len(w) != n_members:
        raise ConfigError(f"got {len(w)} weights for {n_members} ensemble members")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ConfigError(f"ensemble weights must be finite, non-negative and not all zero: {w.tolist()}")
    return w / w.sum()


def weighted_vote(probas: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """(N, C) accuracy-weighted *hard* votes: each member's argmax vote counts with its weight.

    Weights are normalised to sum 1, so a row holds the weight share of each class (then
    `TIE_NUDGE` on the winner). Ties in summed weight are broken as in the module doc.
    """
    stacked = _stack(probas)
    scores = _votes(stacked, normalise_weights(weights, len(stacked)))
    return _shares_as_proba(scores, _tie_broken_argmax(scores, stacked.mean(axis=0)))


def member_accuracies(probas: Sequence[np.ndarray], y_true) -> np.ndarray:
    """(M,) accuracy of each member's argmax against `y_true`."""
    stacked = _stack(probas)
    y = _labels(y_true, stacked.shape[1], "y_true")
    return (stacked.argmax(axis=2) == y[None, :]).mean(axis=1)


# --------------------------------------------------------------------------------------------
# stacking


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
    sel = _stack(probas_selection, "probas_selection")
    y = _labels(y_selection, sel.shape[1], "y_selection")
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
    ev = _stack(probas_evaluation, "probas_evaluation")
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
    sel = _stack(probas_selection, "probas_selection")
    y = _labels(y_selection, sel.shape[1], "y_selection")
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


# --------------------------------------------------------------------------------------------
# diversity


def _pair_key(a: str, b: str) -> str:
    return f"{a} | {b}"


def diversity(probas: Sequence[np.ndarray], y_true, names: Sequence[str] | None = None) -> dict:
    """Pairwise diversity of the members (argmax predictions), JSON-serialisable.

    - `disagreement[pair]`: fraction of samples where the two members predict different classes;
      `mean_disagreement` is its mean over all pairs (0.0 for a single member).
    - `double_fault[pair]`: fraction of samples both members get wrong; `mean_double_fault`.
    - `member_accuracy[name]`, and `oracle_accuracy`: fraction where at least one member is right.
    Pairs are keyed "a | b" in member order.
    """
    stacked = _stack(probas)
    m, n, _ = stacked.shape
    names = [f"member_{i}" for i in range(m)] if names is None else [str(x) for x in names]
    if len(names) != m or len(set(names)) != m:
        raise ConfigError(f"need {m} distinct member names, got {names}")
    y = _labels(y_true, n, "y_true")
    pred = stacked.argmax(axis=2)
    right = pred == y[None, :]
    disagreement, double_fault = {}, {}
    for i, j in combinations(range(m), 2):
        key = _pair_key(names[i], names[j])
        disagreement[key] = float(np.mean(pred[i] != pred[j]))
        double_fault[key] = float(np.mean(~right[i] & ~right[j]))
    return {
        "members": names,
        "mean_disagreement": float(np.mean(list(disagreement.values()))) if disagreement else 0.0,
        "disagreement": disagreement,
        "mean_double_fault": float(np.mean(list(double_fault.values()))) if double_fault else 0.0,
        "double_fault": double_fault,
        "member_accuracy": {name: float(right[i].mean()) for i, name in enumerate(names)},
        "oracle_accuracy": float(right.any(axis=0).mean()),
    }


def diversity_report(member_names: Sequence[str], member_probas: Sequence[np.ndarray], y_true,
                     ensemble_pred) -> dict:
    """`diversity(...)` plus, per member, what the ensemble fixes and what it breaks. JSON-serialisable.

    `ensemble_pred` is (N,) labels or (N, C) probabilities (argmax taken). Per member:
    - `fix_rate`: of the samples the member gets wrong, the fraction the ensemble gets right
      (`n_fixed` / `n_member_wrong`; 0.0 when the member is never wrong);
    - `harm_rate`: of the samples the member gets right, the fraction the ensemble gets wrong
      (`n_harmed` / `n_member_right`; 0.0 when the member is never right).
    """
    report = diversity(member_probas, y_true, member_names)
    stacked = _stack(member_probas)
    y = _labels(y_true, stacked.shape[1], "y_true")
    ens = np.asarray(ensemble_pred)
    if ens.ndim == 2:
        ens = ens.argmax(axis=1)
    ens = _labels(ens, len(y), "ensemble_pred")
    ens_right = ens == y
    per_member = {}
    for i, name in enumerate(report["members"]):
        member_right = stacked[i].argmax(axis=1) == y
        n_wrong, n_right = int((~member_right).sum()), int(member_right.sum())
        n_fixed = int((~member_right & ens_right).sum())
        n_harmed = int((member_right & ~ens_right).sum())
        per_member[name] = {
            "fix_rate": n_fixed / n_wrong if n_wrong else 0.0,
            "harm_rate": n_harmed / n_right if n_right else 0.0,
            "n_fixed": n_fixed,
            "n_member_wrong": n_wrong,
            "n_harmed": n_harmed,
            "n_member_right": n_right,
        }
    report["ensemble_accuracy"] = float(ens_right.mean())
    report["per_member"] = per_member
    return report


# --------------------------------------------------------------------------------------------
# member choice and dispatch


def load_candidates(metrics_paths: Sequence[str | Path]) -> dict[str, dict]:
    """Each fine-tuned variant's metrics by variant id ('arch/strategy/aug'): those of its first training listed,
    with `trainings`, each listed training's member name and result folder, in order.

    A variant listed with one training (one seed: `ensemble.seeds: first`) is the member 'finetune/arch/strategy/aug';
    with several (`ensemble.seeds: all`), each seed is a member 'finetune/arch/strategy/aug/seed42'.
    """
    listed: dict[str, list[tuple[dict, Path]]] = {}
    for path in metrics_paths:
        metrics = read_json(path)
        vid = f"{metrics['architecture']}/{metrics['strategy']}/{metrics['augmentation']}"
        listed.setdefault(vid, []).append((metrics, Path(path).parent))
    candidates = {}
    for vid, trainings in listed.items():
        names = ([f"finetune/{vid}"] if len(trainings) == 1
                 else [f"finetune/{vid}/seed{metrics['seed']}" for metrics, _ in trainings])
        candidates[vid] = {**trainings[0][0], "trainings": dict(zip(names, (folder for _, folder in trainings),
                                                                     strict=True))}
    return candidates


def member_trainings(candidates: Mapping[str, Mapping], spec) -> dict[str, Path]:
    """The trainings that vote: member name -> result folder, of the variants `select_members` chooses."""
    return {name: folder for vid in select_members(candidates, spec)
            for name, folder in candidates[vid]["trainings"].items()}


def select_members(candidates: Mapping[str, Mapping], spec) -> list[str]:
    """Ids of the ensemble members.

    `candidates` maps a variant id ("vgg16/last_two_blocks/standard") to its metrics dict.
    `spec`:
    - "best_per_architecture": per `architecture`, the id with the highest `selection_accuracy`
      (ties -> lexicographically first id). Evaluation metrics are never read. Returned sorted by id.
    - a list of ids: each must be a candidate (ConfigError otherwise), no duplicates; kept in order.
    """
    if isinstance(spec, str):
        if spec != "best_per_architecture":
            raise ConfigError(f"unknown ensemble member spec {spec!r}: use 'best_per_architecture' "
                              "or a list of variant ids")
        if not candidates:
            raise ConfigError("no fine-tuned variants to choose ensemble members from")
        best: dict[str, tuple[float, str]] = {}
        for vid in sorted(candidates):
            metrics = candidates[vid]
            try:
                arch, score = str(metrics["architecture"]), float(metrics["selection_accuracy"])
            except (KeyError, TypeError, ValueError):
                raise DataError(f"metrics of {vid!r} lack a usable 'architecture' / 'selection_accuracy'") from None
            if np.isnan(score):
                raise DataError(f"selection_accuracy of {vid!r} is NaN")
            # sorted ids + strict '>' -> the lexicographically first id wins ties
            if arch not in best or score > best[arch][0]:
                best[arch] = (score, vid)
        return sorted(vid for _, vid in best.values())
    ids = [str(x) for x in spec]
    if not ids:
        raise ConfigError("the ensemble member list is empty")
    unknown = [x for x in ids if x not in candidates]
    if unknown:
        raise ConfigError(f"unknown ensemble member(s) {unknown}; known variants: {sorted(candidates)}")
    duplicates = sorted({x for x in ids if ids.count(x) > 1})
    if duplicates:
        raise ConfigError(f"ensemble member(s) listed twice: {duplicates}")
    return ids


def _stacking_options(config: Mapping | None) -> tuple[str, dict, int]:
    config = dict(config or {})
    stack_cfg = dict(config.get("stacking") or {})
    estimator = stack_cfg.get("estimator", "LogisticRegression")
    params = dict(stack_cfg.get("params") or {})
    seed = int(stack_cfg.get("seed", 0))
    return estimator, params, seed


def ensemble_proba_selection(method: str, probas_selection: Sequence[np.ndarray], y_selection,
                             config: Mapping | None = None) -> np.ndarray | None:
    """(N_sel, C) the ensemble's probabilities on the selection split, for `proba_selection.npy`.

    Voting methods are applied directly (weighted vote with selection-accuracy weights); stacking
    gives out-of-fold predictions (`stacking_out_of_fold`, None if impossible).
    """
    if method == "majority_vote":
        return majority_vote_proba(probas_selection)
    if method == "soft_vote":
        return soft_vote(probas_selection)
    if method == "weighted_vote":
        return weighted_vote(probas_selection, member_accuracies(probas_selection, y_selection))
    if method == "stacking":
        estimator, params, seed = _stacking_options(config)
        return stacking_out_of_fold(probas_selection, y_selection, estimator, params, seed)
    raise ConfigError(f"unknown ensemble method {method!r}; choose one of {list(METHODS)}")


def run_ensemble(method: str, member_names: Sequence[str], probas_selection: Sequence[np.ndarray],
                 probas_evaluation: Sequence[np.ndarray], y_selection, y_evaluation,
                 config: Mapping | None = None) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Combine the members with `method`; return the (N_eval, C) probabilities, the (N_sel, C) ones on the
    selection split (`ensemble_proba_selection`: out-of-fold for stacking, None if impossible), and a
    JSON-able info dict.

    `config` (all optional): {"seed": 0, "stacking": {"estimator": "LogisticRegression",
    "params": {...}, "seed": 0}}. Weighted-vote weights are the members' selection-split accuracies.
    `y_evaluation` is used only for the diversity report in `info`, never to build the ensemble.

    info: method, members, member_selection_accuracy, selection_accuracy (ensemble on the selection
    split; out-of-fold for stacking, None if unavailable), mean_disagreement, diversity
    (`diversity_report` on the evaluation split), plus weights (weighted_vote) or estimator/params
    (stacking).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown ensemble method {method!r}; choose one of {list(METHODS)}")
    names = [str(x) for x in member_names]
    sel = _stack(probas_selection, "probas_selection")
    ev = _stack(probas_evaluation, "probas_evaluation")
    if not (len(names) == sel.shape[0] == ev.shape[0]):
        raise ConfigError(f"{len(names)} member names, {sel.shape[0]} selection and "
                          f"{ev.shape[0]} evaluation probability arrays")
    if sel.shape[2] != ev.shape[2]:
        raise DataError(f"selection probabilities have {sel.shape[2]} classes, evaluation {ev.shape[2]}")
    y_sel = _labels(y_selection, sel.shape[1], "y_selection")
    sel_acc = member_accuracies(list(sel), y_sel)

    info: dict = {"method": method, "members": names,
                  "member_selection_accuracy": dict(zip(names, map(float, sel_acc), strict=True))}
    if method == "majority_vote":
        proba = majority_vote_proba(list(ev))
    elif method == "soft_vote":
        proba = soft_vote(list(ev))
    elif method == "weighted_vote":
        weights = normalise_weights(sel_acc, len(names))
        proba = weighted_vote(list(ev), weights)
        info["weights"] = dict(zip(names, map(float, weights), strict=True))
    else:
        estimator, params, seed = _stacking_options(config)
        proba = stacking(list(sel), y_sel, list(ev), estimator, params, seed)
        info.update(estimator=estimator, params=params, seed=seed)

    proba_sel = ensemble_proba_selection(method, list(sel), y_sel, config)
    info["selection_accuracy"] = (None if proba_sel is None
                                  else float(np.mean(proba_sel.argmax(axis=1) == y_sel)))
    report = diversity_report(names, list(ev), y_evaluation, proba)
    info["mean_disagreement"] = report["mean_disagreement"]
    info["diversity"] = report
    return proba, proba_sel, info
