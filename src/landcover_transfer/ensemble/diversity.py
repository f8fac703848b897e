"""How ensemble members differ: pairwise disagreement, and what the ensemble fixes or harms per member."""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

import numpy as np

from landcover_transfer.ensemble.voting import checked_labels, stack_probas
from landcover_transfer.workflow.errors import ConfigError


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
    stacked = stack_probas(probas)
    m, n, _ = stacked.shape
    names = [f"member_{i}" for i in range(m)] if names is None else [str(x) for x in names]
    if len(names) != m or len(set(names)) != m:
        raise ConfigError(f"need {m} distinct member names, got {names}")
    y = checked_labels(y_true, n, "y_true")
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
    stacked = stack_probas(member_probas)
    y = checked_labels(y_true, stacked.shape[1], "y_true")
    ens = np.asarray(ensemble_pred)
    if ens.ndim == 2:
        ens = ens.argmax(axis=1)
    ens = checked_labels(ens, len(y), "ensemble_pred")
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
