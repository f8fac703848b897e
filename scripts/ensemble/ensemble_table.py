from landcover_transfer.data.splits import Splits
from landcover_transfer.reporting.pages import titled
from landcover_transfer.reporting.tables import collect_results, correctness_by_folder, ensemble_table, write_table
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    inputs, level = snakemake.input, snakemake.params.level
    correct = correctness_by_folder(inputs.proba, Splits.load(inputs.splits).y_evaluation)
    table = ensemble_table(collect_results(inputs.metrics, correct, level), method_order=snakemake.params.methods,
                           level=level)
    title = titled("Ensembles of the fine-tuned variants, evaluation split", data_note(snakemake.config))
    write_table(table, snakemake.output.csv, snakemake.output.md, snakemake.output.html, title=title,
                multiline=["Members"])
    return f"ensemble table: {len(table)} methods"


run_script(snakemake, main)
