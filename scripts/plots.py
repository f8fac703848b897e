from pathlib import Path

import numpy as np
import pandas as pd

from landcover_transfer.plots import plot_factor_effects, plot_leaderboard, plot_learning_curves, plot_variant_accuracy
from landcover_transfer.tables import collect_metrics
from landcover_transfer.workflow import data_note, phase_switches, run_script


def class_count(metrics_path) -> int:
    """Number of classes: the width of a result folder's saved class probabilities."""
    return np.load(Path(metrics_path).parent / "proba_evaluation.npy", mmap_mode="r").shape[1]


def main(snakemake):
    grid, output, config = snakemake.params.grid, snakemake.output, snakemake.config
    note = data_note(config)
    variants = collect_metrics(snakemake.input.finetune)
    chance = 1 / class_count(variants["path"].iloc[0])
    orders = {"architecture": grid["architectures"], "strategy": grid["strategies"],
              "augmentation": grid["augmentations"]}
    plot_variant_accuracy(variants, output.accuracy, architecture_order=grid["architectures"],
                          strategy_order=grid["strategies"], augmentation_order=grid["augmentations"],
                          chance=chance, note=note)
    plot_factor_effects(variants, output.effects, orders=orders, note=note)
    plot_leaderboard(pd.read_csv(snakemake.input.leaderboard), output.leaderboard, chance=chance, note=note)
    Path(output.curves).mkdir(parents=True, exist_ok=True)
    for arch in grid["architectures"]:
        # rows: strategies, columns: augmentations (config order)
        rows = [row for strategy in grid["strategies"] for aug in grid["augmentations"]
                for row in variants.itertuples()
                if (row.architecture, row.strategy, row.augmentation) == (arch, strategy, aug)]
        histories = {f"{row.strategy} / {row.augmentation}": pd.read_csv(Path(row.path).parent / "history.csv")
                     for row in rows}
        starts = {f"{row.strategy} / {row.augmentation}":
                  phase_switches(config["strategies"][row.strategy], config["training"]) for row in rows}
        plot_learning_curves(histories, Path(output.curves) / f"{arch}.png", f"{arch}: learning curves",
                             phase_starts=starts, ncols=len(grid["augmentations"]), note=note)
    return f"plots: {len(variants)} variants, learning curves of {len(grid['architectures'])} architectures"


run_script(snakemake, main)
