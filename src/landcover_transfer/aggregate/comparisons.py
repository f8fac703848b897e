"""The comparisons table: which differences between models are real, tested image by image.

Two groups of paired comparisons on the same evaluation images, each Holm-corrected within its group:

- every model against the leaderboard's best (the same ranking as `tables.leaderboard`);
- the study's claims, derived from the configuration (never from a fixed list of variants): deeper against
  shallower unfreezing (strategies whose phases all unfreeze the same number of blocks), each augmentation
  policy against no augmentation (a policy without layers), per architecture and the other factor; each
  ensemble against its best member; the best fine-tuned variant against the best classical model. "Best" in a
  claim is chosen on the selection split (as the ensembles choose their members), so the evaluation images that
  test the claim did not also pick its models.

Each row: both accuracies, the difference with its paired bootstrap interval, the discordant counts, the exact
McNemar p-value and its Holm adjustment (`accuracy_stats`). A variant trained with several seeds is its seed mean
(per image, the fraction of seeds right), tested with the paired permutation test; an ensemble is compared with
the training it took as member (the variant's first seed).
"""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import pandas as pd

from landcover_transfer.evaluation.accuracy_stats import compare, holm
from landcover_transfer.reporting.tables import leaderboard, row_ids

log = logging.getLogger(__name__)

VERSUS_BEST = "every model vs the best on the leaderboard"
CLAIMS = "claims of the study"


def model_results(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.Series]:
    """Each model's `collect_results` row by leaderboard id ("classical/svm", "finetune/a/s/g", "ensemble/m"); the
    single trainings of frame "finetune_runs" as "finetune/a/s/g/seed{n}"."""
    return {model_id: row for key, df in frames.items() if df is not None and not df.empty
            for model_id, (_, row) in zip(row_ids(df, key.removesuffix("_runs")), df.iterrows(), strict=True)}


def versus_best(frames: Mapping[str, pd.DataFrame], level: float) -> list[dict]:
    """The leaderboard's best (highest evaluation accuracy, ties as the leaderboard lists them) against every
    other model; `level`: the confidence level of the frames' intervals."""
    board = leaderboard(frames.get("classical"), frames.get("finetune"), frames.get("ensemble"), level=level)
    ids = (board["Family"] + "/" + board["Model"]).tolist()
    return [{"comparison": "vs the best", "a": ids[0], "b": other} for other in ids[1:]]


def depth_claims(grid: Mapping, depths: Mapping[str, Sequence[int]]) -> list[dict]:
    """Deeper vs shallower unfreezing: each pair of grid strategies whose phases all unfreeze one number of
    blocks (`depths[strategy]`: the numbers its phases unfreeze), per architecture and augmentation."""
    uniform = {s: depths[s][0] for s in grid["strategies"] if len(set(depths[s])) == 1}
    pairs = [(deep, shallow) for deep in uniform for shallow in uniform if uniform[deep] > uniform[shallow]]
    return [{"comparison": f"{_blocks(uniform[deep])} vs {_blocks(uniform[shallow])}",
             "a": f"finetune/{arch}/{deep}/{aug}", "b": f"finetune/{arch}/{shallow}/{aug}"}
            for deep, shallow in pairs for arch in grid["architectures"] for aug in grid["augmentations"]]


def augmentation_claims(grid: Mapping, has_layers: Mapping[str, bool]) -> list[dict]:
    """Each augmentation policy of the grid against each policy without layers, per architecture and strategy."""
    plain = [aug for aug in grid["augmentations"] if not has_layers[aug]]
    augmented = [aug for aug in grid["augmentations"] if has_layers[aug]]
    return [{"comparison": f"augmentation {aug} vs {none}", "a": f"finetune/{arch}/{strategy}/{aug}",
             "b": f"finetune/{arch}/{strategy}/{none}"}
            for aug in augmented for none in plain for arch in grid["architectures"] for strategy in grid["strategies"]]


def ensemble_claims(ensembles: pd.DataFrame | None, member_seed: int | None = None) -> list[dict]:
    """Each ensemble against its member with the best selection-split accuracy (as recorded by the ensemble);
    `member_seed`: the seed of the fine-tuned members when variants have several (their id then names it)."""
    if ensembles is None or ensembles.empty:
        return []
    claims = []
    for method, scores in zip(ensembles["method"], ensembles["member_selection_accuracy"], strict=True):
        best = max(sorted(scores), key=lambda member: scores[member])  # sorted: ties go to the first id
        member = best if best.split("/")[0] in ("finetune", "classical") else f"finetune/{best}"
        if member_seed is not None and member.startswith("finetune/"):
            member = f"{member}/seed{member_seed}"
        claims.append({"comparison": "ensemble vs its best member", "a": f"ensemble/{method}", "b": member})
    return claims


def finetune_vs_classical(frames: Mapping[str, pd.DataFrame]) -> list[dict]:
    """The fine-tuned variant against the classical model, each the best of its family on the selection split."""
    best = {}
    for family in ("finetune", "classical"):
        df = frames.get(family)
        if df is None or df.empty:
            return []
        ids = row_ids(df, family).tolist()
        best[family] = max(sorted(zip(ids, df["selection_accuracy"], strict=True)), key=lambda pair: pair[1])[0]
    return [{"comparison": "best fine-tuned vs best classical", "a": best["finetune"], "b": best["classical"]}]


def run_group(group: str, pairs: Sequence[dict], models: Mapping[str, pd.Series], statistics: Mapping) -> list[dict]:
    """Paired comparisons of `pairs`, Holm-corrected together; a pair naming a model without results is logged
    and left out."""
    kept = [pair for pair in pairs if pair["a"] in models and pair["b"] in models]
    for pair in pairs:
        if pair not in kept:
            log.warning("comparison %s: %s vs %s left out, no results for one of them", pair["comparison"],
                        pair["a"], pair["b"])
    rows = [{"group": group, **pair,
             **compare(models[pair["a"]]["correct"], models[pair["b"]]["correct"], statistics["confidence_level"],
                       statistics["bootstrap_resamples"], statistics["seed"])} for pair in kept]
    for row, adjusted in zip(rows, holm([row["p_value"] for row in rows]), strict=True):
        row["p_holm"] = float(adjusted)
    return rows


def comparisons(frames: Mapping[str, pd.DataFrame], grid: Mapping, depths: Mapping[str, Sequence[int]],
                has_layers: Mapping[str, bool], statistics: Mapping, seeds: Sequence[int] = ()) -> pd.DataFrame:
    """Both groups of comparisons as raw rows (group, comparison, a, b, `accuracy_stats.compare`'s keys, p_holm).

    `frames`: `tables.collect_results` frames by family (classical, ensemble; finetune: one row per variant, from
    `tables.average_over_seeds`) and, with several `seeds` (config), "finetune_runs": the single trainings, of
    which the ensembles' members are the first seed's; `grid`: config finetune;
    `depths`: per strategy, the numbers of blocks its phases unfreeze; `has_layers`: per augmentation policy,
    whether it has any layer; `statistics`: config statistics.
    """
    models = model_results(frames)
    member_seed = seeds[0] if len(seeds) > 1 else None
    claims = (depth_claims(grid, depths) + augmentation_claims(grid, has_layers)
              + ensemble_claims(frames.get("ensemble"), member_seed) + finetune_vs_classical(frames))
    best = versus_best(frames, statistics["confidence_level"])
    rows = run_group(VERSUS_BEST, best, models, statistics) + run_group(CLAIMS, claims, models, statistics)
    return pd.DataFrame(rows)


def comparisons_table(raw: pd.DataFrame, level: float) -> pd.DataFrame:
    """The presentation table of `comparisons`: method and level in the headers."""
    percent = f"{level * 100:g}%"
    titles = {
        "group": "Group (Holm within)", "comparison": "Comparison", "a": "Model A", "b": "Model B",
        "accuracy_a": "Accuracy A", "accuracy_b": "Accuracy B", "difference": "Difference (A - B)",
        "low": f"{percent} CI Low (paired bootstrap)", "high": f"{percent} CI High (paired bootstrap)",
        "only_a": "Only A Right", "only_b": "Only B Right", "test": "Test", "p_value": "p-value",
        "p_holm": "p-value (Holm)",
    }
    table = raw.reindex(columns=list(titles)).rename(columns=titles)
    significant = f"Significant (Holm p < {1 - level:.3g})"
    table[significant] = ["yes" if p < 1 - level else "no" for p in raw.get("p_holm", [])]
    return table


def _blocks(count: int) -> str:
    return f"{count} block" if count == 1 else f"{count} blocks"
