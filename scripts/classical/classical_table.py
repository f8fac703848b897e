from landcover_transfer.data.splits import Splits
from landcover_transfer.reporting.pages import titled
from landcover_transfer.reporting.tables import classical_table, collect_results, correctness_by_folder, write_table
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    inputs, level = snakemake.input, snakemake.params.level
    correct = correctness_by_folder(inputs.proba, Splits.load(inputs.splits).y_evaluation)
    table = classical_table(collect_results(inputs.metrics, correct, level), level=level)
    title = titled("Table 4: classical models on frozen features, evaluation split", data_note(snakemake.config))
    write_table(table, snakemake.output.csv, snakemake.output.md, snakemake.output.html, title=title)
    return f"Table 4: {len(table)} classical models"


run_script(snakemake, main)
