import pandas as pd

from landcover_transfer.reporting import titled
from landcover_transfer.robustness_report import add_robust_accuracy
from landcover_transfer.tables import collect_metrics, leaderboard, write_table
from landcover_transfer.workflow import data_note, run_script


def main(snakemake):
    board = leaderboard(collect_metrics(snakemake.input.classical), collect_metrics(snakemake.input.finetune),
                        collect_metrics(snakemake.input.ensemble), snakemake.params.study_reference)
    board = add_robust_accuracy(board, pd.read_csv(snakemake.input.robustness), snakemake.params.headline_eps)
    title = titled("Leaderboard: every model on the evaluation split", data_note(snakemake.config))
    write_table(board, snakemake.output.csv, snakemake.output.md, snakemake.output.html, title=title)
    best = board.iloc[0]
    return f"leaderboard: {len(board)} models, best {best['Family']}/{best['Model']} {best['Accuracy']:.4f}"


run_script(snakemake, main)
