from landcover_transfer.tables import collect_metrics, ensemble_table, write_table
from landcover_transfer.workflow import run_script


def main(snakemake):
    table = ensemble_table(collect_metrics(snakemake.input), method_order=snakemake.params.methods)
    write_table(table, snakemake.output.csv, snakemake.output.md)


run_script(snakemake, main)
