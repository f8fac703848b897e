from landcover_transfer.reporting import titled
from landcover_transfer.tables import collect_metrics, finetune_table, write_table
from landcover_transfer.workflow import data_note, run_script


def main(snakemake):
    grid = snakemake.params.grid
    table = finetune_table(collect_metrics(snakemake.input), architecture_order=grid["architectures"],
                           strategy_order=grid["strategies"], augmentation_order=grid["augmentations"],
                           protocol=snakemake.params.protocol)
    title = titled("Table 5: fine-tuning variants", data_note(snakemake.config))
    write_table(table, snakemake.output.csv, snakemake.output.md, snakemake.output.html, title=title)
    return f"Table 5: {len(table)} variants"


run_script(snakemake, main)
