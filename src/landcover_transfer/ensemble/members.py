"""Which trained variants an ensemble combines: the candidates' metrics, their trainings, the member choice.

Member choice uses only the `selection_accuracy` of each variant, never the evaluation split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from landcover_transfer.workflow.atomic_files import read_json
from landcover_transfer.workflow.errors import ConfigError, DataError


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
