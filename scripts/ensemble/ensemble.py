from pathlib import Path

import numpy as np

from landcover_transfer.data.splits import Splits
from landcover_transfer.ensemble.members import load_candidates, member_trainings
from landcover_transfer.ensemble.methods import run_ensemble
from landcover_transfer.evaluation.metrics import result_line, write_evaluation
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    config, inputs, method = snakemake.params.ensemble, snakemake.input, snakemake.wildcards.method
    splits = Splits.load(inputs.splits)
    members = member_trainings(load_candidates(inputs.metrics), config["members"])
    members.update({f"classical/{Path(p).parent.name}": Path(p).parent for p in inputs.classical_metrics})
    selection, evaluation = ({Path(path).parent: path for path in paths} for paths in (inputs.selection,
                                                                                       inputs.evaluation))
    probas_selection = [np.load(selection[folder]) for folder in members.values()]
    probas_evaluation = [np.load(evaluation[folder]) for folder in members.values()]
    # the ensemble's own selection-split probabilities are not an output: nothing downstream reads them
    proba, _, info = run_ensemble(method, list(members), probas_selection, probas_evaluation,
                                  splits.y_selection, splits.y_evaluation, config)
    metrics = write_evaluation(
        snakemake.output, name=method, y_true=splits.y_evaluation, proba_evaluation=proba,
        class_names=splits.class_names, extra={"family": "ensemble", **info}, note=data_note(snakemake.config),
    )
    return f"{result_line(metrics)} ({len(members)} members)"


run_script(snakemake, main)
