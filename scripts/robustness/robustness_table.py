import pandas as pd

from landcover_transfer.reporting.pages import titled
from landcover_transfer.reporting.tables import collect_metrics, write_table
from landcover_transfer.robustness.report import adversarial_training_table, robustness_table, transfer_table
from landcover_transfer.workflow.atomic_files import read_json
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    output, settings = snakemake.output, snakemake.params.robustness
    note, subset = data_note(snakemake.config), f"{settings['subset_size']} evaluation images"
    results = [read_json(path) for path in snakemake.input.results]
    transfer = pd.read_csv(snakemake.input.transfer, index_col="source")
    table = robustness_table(results, transfer, settings)
    write_table(table, output.robustness, output.robustness_md, output.robustness_html,
                title=titled(f"Clean vs robust accuracy, L-infinity, {subset}", note))
    write_table(transfer_table(transfer), output.transfer, output.transfer_md, output.transfer_html,
                title=titled(f"Transfer: {settings['transfer_attack']} images at eps {settings['transfer_eps']:g}/255 "
                             f"(rows: source, columns: target), {subset}", note))
    write_table(adversarial_training_table(results, collect_metrics(snakemake.input.finetune),
                                           snakemake.params.augmentations, settings),
                output.adversarial_training, output.adversarial_training_md, output.adversarial_training_html,
                title=titled("Adversarially trained variants beside their twins", note))
    return f"robustness tables: {len(table)} rows, transfer matrix {transfer.shape[0]} x {transfer.shape[1]}"


run_script(snakemake, main)
