from landcover_transfer.reporting import titled
from landcover_transfer.tables import classical_table, collect_metrics, write_table
from landcover_transfer.workflow import data_note, run_script


def main(snakemake):
    table = classical_table(collect_metrics(snakemake.input))
    title = titled("Table 4: classical models on frozen features, evaluation split", data_note(snakemake.config))
    write_table(table, snakemake.output.csv, snakemake.output.md, snakemake.output.html, title=title)
    return f"Table 4: {len(table)} classical models"


run_script(snakemake, main)
