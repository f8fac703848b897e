from landcover_transfer.tables import collect_metrics, finetune_table, write_table
from landcover_transfer.workflow import run_script


def main(snakemake):
    grid = snakemake.params.grid
    table = finetune_table(collect_metrics(snakemake.input), architecture_order=grid["architectures"],
                           strategy_order=grid["strategies"], augmentation_order=grid["augmentations"])
    write_table(table, snakemake.output.csv, snakemake.output.md)


run_script(snakemake, main)
