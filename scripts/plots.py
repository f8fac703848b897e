from pathlib import Path

import pandas as pd

from landcover_transfer.plots import (plot_factor_effects, plot_leaderboard, plot_learning_curves,
                                      plot_variant_accuracy)
from landcover_transfer.tables import collect_metrics
from landcover_transfer.workflow import run_script


def main(snakemake):
    grid, output = snakemake.params.grid, snakemake.output
    variants = collect_metrics(snakemake.input.finetune)
    orders = {"architecture": grid["architectures"], "strategy": grid["strategies"],
              "augmentation": grid["augmentations"]}
    plot_variant_accuracy(variants, output.accuracy, architecture_order=grid["architectures"],
                          strategy_order=grid["strategies"], augmentation_order=grid["augmentations"])
    plot_factor_effects(variants, output.effects, orders=orders)
    plot_leaderboard(pd.read_csv(snakemake.input.leaderboard), output.leaderboard)
    Path(output.curves).mkdir(parents=True, exist_ok=True)
    for arch in grid["architectures"]:
        histories = {
            f"{row.strategy}/{row.augmentation}": pd.read_csv(Path(row.path).parent / "history.csv")
            for row in variants[variants["architecture"] == arch].itertuples()
        }
        plot_learning_curves(histories, Path(output.curves) / f"{arch}.png", f"{arch}: all variants")


run_script(snakemake, main)
