from landcover_transfer.aggregate.comparisons import CLAIMS, comparisons, comparisons_table
from landcover_transfer.data.splits import Splits
from landcover_transfer.reporting.pages import titled
from landcover_transfer.reporting.tables import average_over_seeds, collect_results, correctness_by_folder, write_table
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    inputs, params = snakemake.input, snakemake.params
    level = params.statistics["confidence_level"]
    correct = correctness_by_folder(inputs.proba, Splits.load(inputs.splits).y_evaluation)
    frames = {family: collect_results(inputs[family], correct, level) for family in ("classical", "finetune",
                                                                                      "ensemble")}
    frames["finetune_runs"] = frames["finetune"]
    frames["finetune"] = average_over_seeds(frames["finetune_runs"], level, params.statistics["bootstrap_resamples"],
                                            params.statistics["seed"])
    raw = comparisons(frames, params.grid, params.depths, params.has_layers, params.statistics, params.seeds)
    title = titled(f"Paired comparisons on the evaluation images: {level * 100:g}% paired bootstrap intervals, "
                   "exact McNemar tests (paired permutation tests for seed means), Holm-corrected within each group",
                   data_note(snakemake.config))
    write_table(comparisons_table(raw, level), snakemake.output.csv, snakemake.output.md, snakemake.output.html,
                title=title)
    claims = raw[raw["group"] == CLAIMS] if len(raw) else raw
    return f"comparisons: {len(raw)} paired tests, {len(claims)} of the study's claims"


run_script(snakemake, main)
