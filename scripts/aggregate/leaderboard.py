import pandas as pd

from landcover_transfer.data.splits import Splits
from landcover_transfer.reporting.pages import titled
from landcover_transfer.reporting.tables import (
    average_over_seeds,
    collect_results,
    correctness_by_folder,
    leaderboard,
    write_table,
)
from landcover_transfer.robustness.report import add_robust_accuracy
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    inputs, statistics = snakemake.input, snakemake.params.statistics
    level = statistics["confidence_level"]
    correct = correctness_by_folder(inputs.proba, Splits.load(inputs.splits).y_evaluation)
    families = [collect_results(inputs[family], correct, level) for family in ("classical", "finetune", "ensemble")]
    families[1] = average_over_seeds(families[1], level, statistics["bootstrap_resamples"], statistics["seed"])
    board = leaderboard(*families, snakemake.params.study_reference, level=level)
    board = add_robust_accuracy(board, pd.read_csv(inputs.robustness), snakemake.params.headline_eps)
    title = titled("Leaderboard: every model on the evaluation split", data_note(snakemake.config))
    write_table(board, snakemake.output.csv, snakemake.output.md, snakemake.output.html, title=title)
    best = board.iloc[0]
    return f"leaderboard: {len(board)} models, best {best['Family']}/{best['Model']} {best['Accuracy']:.4f}"


run_script(snakemake, main)
