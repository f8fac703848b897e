from pathlib import Path

import pandas as pd

from landcover_transfer.data.splits import Splits
from landcover_transfer.finetune.phases import phase_switches
from landcover_transfer.reporting.plots import (
    plot_factor_effects,
    plot_leaderboard,
    plot_learning_curves,
    plot_variant_accuracy,
)
from landcover_transfer.reporting.tables import (
    average_over_seeds,
    collect_results,
    correctness_by_folder,
    interval_headers,
    repeated,
)
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    inputs, grid, output, config = snakemake.input, snakemake.params.grid, snakemake.output, snakemake.config
    statistics, note = snakemake.params.statistics, data_note(config)
    level = statistics["confidence_level"]
    splits = Splits.load(inputs.splits)
    runs = collect_results(inputs.finetune, correctness_by_folder(inputs.proba, splits.y_evaluation), level)
    variants = average_over_seeds(runs, level, statistics["bootstrap_resamples"], statistics["seed"])
    chance = 1 / len(splits.class_names)
    orders = {"architecture": grid["architectures"], "strategy": grid["strategies"],
              "augmentation": grid["augmentations"]}
    plot_variant_accuracy(variants, output.accuracy, architecture_order=grid["architectures"],
                          strategy_order=grid["strategies"], augmentation_order=grid["augmentations"],
                          chance=chance, note=note)
    plot_factor_effects(variants, output.effects, orders=orders, note=note)
    plot_leaderboard(pd.read_csv(inputs.leaderboard), output.leaderboard, chance=chance, note=note,
                     interval=list(interval_headers(level, repeated(variants)).values()))
    Path(output.curves).mkdir(parents=True, exist_ok=True)
    # each variant's first seed: results/finetune/{arch}/{strategy}/{aug}/seed{n}/history.csv
    history_of = {tuple(Path(path).parts[-5:-2]): path for path in inputs.histories}
    for arch in grid["architectures"]:
        # rows: strategies, columns: augmentations (config order)
        rows = [row for strategy in grid["strategies"] for aug in grid["augmentations"]
                for row in variants.itertuples()
                if (row.architecture, row.strategy, row.augmentation) == (arch, strategy, aug)]
        histories = {f"{row.strategy} / {row.augmentation}":
                     pd.read_csv(history_of[(row.architecture, row.strategy, row.augmentation)]) for row in rows}
        starts = {f"{row.strategy} / {row.augmentation}":
                  phase_switches(config["strategies"][row.strategy], config["training"]) for row in rows}
        plot_learning_curves(histories, Path(output.curves) / f"{arch}.png", f"{arch}: learning curves",
                             phase_starts=starts, ncols=len(grid["augmentations"]), note=note)
    return f"plots: {len(variants)} variants, learning curves of {len(grid['architectures'])} architectures"


run_script(snakemake, main)
