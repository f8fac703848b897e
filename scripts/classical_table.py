from landcover_transfer.tables import classical_table, collect_metrics, write_table
from landcover_transfer.workflow import run_script


def main(snakemake):
    table = classical_table(collect_metrics(snakemake.input))
    write_table(table, snakemake.output.csv, snakemake.output.md)


run_script(snakemake, main)
