from pathlib import Path

import pandas as pd

from landcover_transfer.data.splits import Splits
from landcover_transfer.reporting.pages import titled
from landcover_transfer.robustness.report import plot_accuracy_vs_eps, plot_transfer_matrix
from landcover_transfer.workflow.atomic_files import read_json
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    output, settings = snakemake.output, snakemake.params.robustness
    note = data_note(snakemake.config)
    results = [read_json(path) for path in snakemake.input.results]
    chance = 1 / len(Splits.load(snakemake.input.splits).class_names)
    Path(output.curves).mkdir(parents=True, exist_ok=True)
    for arch in snakemake.params.architectures:
        plot_accuracy_vs_eps([r for r in results if r["target"].startswith(f"finetune/{arch}/")],
                             Path(output.curves) / f"{arch}.png",
                             titled(f"{arch}: accuracy under attack, every variant", note), chance=chance)
    transfer_title = f"Transfer: {settings['transfer_attack']} images at eps {settings['transfer_eps']:g}/255"
    plot_transfer_matrix(pd.read_csv(snakemake.input.transfer, index_col="source"), output.transfer,
                         titled(transfer_title, note))
    return f"robustness plots: {len(snakemake.params.architectures)} architectures, transfer matrix"


run_script(snakemake, main)
