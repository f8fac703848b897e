"""One ensemble method run end to end (the study's Q3): its selection-split probabilities and its evaluation.

Data separation: nothing chooses or fits anything on the evaluation split. Member choice uses only the
`selection_accuracy` of each variant (`members`), voting weights come from the members' accuracy on the selection
split, and the stacking meta-learner is fitted on selection-split probabilities and labels only (`stacking` has no
parameter for evaluation labels). Evaluation labels enter `run_ensemble` solely to describe the finished ensemble
(`diversity_report`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from landcover_transfer.ensemble.diversity import diversity_report
from landcover_transfer.ensemble.stacking import stacking, stacking_out_of_fold
from landcover_transfer.ensemble.voting import (
    checked_labels,
    majority_vote_proba,
    member_accuracies,
    normalise_weights,
    soft_vote,
    stack_probas,
    weighted_vote,
)
from landcover_transfer.workflow.errors import ConfigError, DataError

METHODS = ("majority_vote", "soft_vote", "weighted_vote", "stacking")


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
    sel = stack_probas(probas_selection, "probas_selection")
    ev = stack_probas(probas_evaluation, "probas_evaluation")
    if not (len(names) == sel.shape[0] == ev.shape[0]):
        raise ConfigError(f"{len(names)} member names, {sel.shape[0]} selection and "
                          f"{ev.shape[0]} evaluation probability arrays")
    if sel.shape[2] != ev.shape[2]:
        raise DataError(f"selection probabilities have {sel.shape[2]} classes, evaluation {ev.shape[2]}")
    y_sel = checked_labels(y_selection, sel.shape[1], "y_selection")
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
