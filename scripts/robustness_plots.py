from pathlib import Path

import pandas as pd

from landcover_transfer.io import read_json
from landcover_transfer.robustness_report import plot_accuracy_vs_eps, plot_transfer_matrix
from landcover_transfer.workflow import run_script


def main(snakemake):
    output, settings = snakemake.output, snakemake.params.robustness
    results = [read_json(path) for path in snakemake.input.results]
    Path(output.curves).mkdir(parents=True, exist_ok=True)
    for arch in snakemake.params.architectures:
        plot_accuracy_vs_eps([r for r in results if r["target"].startswith(f"finetune/{arch}/")],
                             Path(output.curves) / f"{arch}.png", f"{arch}: accuracy under attack, every variant")
    plot_transfer_matrix(pd.read_csv(snakemake.input.transfer, index_col="source"), output.transfer,
                         f"Transfer: {settings['transfer_attack']} images at eps {settings['transfer_eps']}/255")


run_script(snakemake, main)
