from landcover_transfer.data.splits import Splits
from landcover_transfer.reporting.pages import titled
from landcover_transfer.reporting.tables import (
    average_over_seeds,
    collect_results,
    correctness_by_folder,
    finetune_table,
    write_table,
)
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    inputs, grid, statistics = snakemake.input, snakemake.params.grid, snakemake.params.statistics
    level = statistics["confidence_level"]
    correct = correctness_by_folder(inputs.proba, Splits.load(inputs.splits).y_evaluation)
    variants = average_over_seeds(collect_results(inputs.metrics, correct, level), level,
                                  statistics["bootstrap_resamples"], statistics["seed"])
    table = finetune_table(variants, architecture_order=grid["architectures"],
                           strategy_order=grid["strategies"], augmentation_order=grid["augmentations"],
                           protocol=snakemake.params.protocol, level=level)
    title = titled("Table 5: fine-tuning variants", data_note(snakemake.config))
    write_table(table, snakemake.output.csv, snakemake.output.md, snakemake.output.html, title=title)
    return f"Table 5: {len(table)} variants"


run_script(snakemake, main)
