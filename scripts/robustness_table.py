import pandas as pd

from landcover_transfer.io import read_json
from landcover_transfer.robustness_report import adversarial_training_table, robustness_table, transfer_table
from landcover_transfer.tables import collect_metrics, write_table
from landcover_transfer.workflow import run_script


def main(snakemake):
    output, settings = snakemake.output, snakemake.params.robustness
    results = [read_json(path) for path in snakemake.input.results]
    transfer = pd.read_csv(snakemake.input.transfer, index_col="source")
    write_table(robustness_table(results, transfer, settings), output.robustness, output.robustness_md)
    write_table(transfer_table(transfer), output.transfer, output.transfer_md)
    write_table(adversarial_training_table(results, collect_metrics(snakemake.input.finetune),
                                           snakemake.params.augmentations, settings),
                output.adversarial_training, output.adversarial_training_md)


run_script(snakemake, main)
