import pandas as pd

from landcover_transfer.robustness_report import add_robust_accuracy
from landcover_transfer.tables import collect_metrics, leaderboard, write_table
from landcover_transfer.workflow import run_script


def main(snakemake):
    board = leaderboard(collect_metrics(snakemake.input.classical), collect_metrics(snakemake.input.finetune),
                        collect_metrics(snakemake.input.ensemble), snakemake.params.study_reference)
    board = add_robust_accuracy(board, pd.read_csv(snakemake.input.robustness), snakemake.params.headline_eps)
    write_table(board, snakemake.output.csv, snakemake.output.md)


run_script(snakemake, main)
