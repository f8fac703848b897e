import numpy as np

from landcover_transfer.classical.estimators import build_model, fit_and_predict, seed_accuracies
from landcover_transfer.data.splits import Splits
from landcover_transfer.evaluation.metrics import result_line, summary_metrics, write_evaluation
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    model = snakemake.wildcards.model
    spec = dict(snakemake.params.model)
    repeat_seeds = spec.pop("repeat_seeds", [])
    build_model(spec, name=model)  # a bad parameter fails here, before the features are read
    features = np.load(snakemake.input.features)
    splits = Splits.load(snakemake.input.splits)
    selection_pool = features["train"] if splits.selection_split == "train" else features["val"]
    n_classes = len(splits.class_names)
    x_fit, y_fit = features["train"][splits.fit_index], features["y_train"][splits.fit_index]
    selection = (selection_pool[splits.selection_index], splits.y_selection)
    proba_selection, proba_evaluation, fit_time = fit_and_predict(
        spec, x_fit, y_fit, selection, features["val"], n_classes, n_jobs=snakemake.threads, name=model,
    )
    repeats = seed_accuracies(spec, repeat_seeds, x_fit, y_fit, selection, features["val"], splits.y_evaluation,
                              n_jobs=snakemake.threads, name=model)
    metrics = write_evaluation(
        snakemake.output, name=model, y_true=splits.y_evaluation,
        proba_evaluation=proba_evaluation, proba_selection=proba_selection, class_names=splits.class_names,
        extra={"family": "classical", "model": model, "estimator": snakemake.params.model["estimator"],
               "fit_time_s": round(fit_time, 2),
               "selection_accuracy": summary_metrics(splits.y_selection, proba_selection.argmax(1))["accuracy"],
               **({"seed_accuracies": repeats} if repeats else {})},
        note=data_note(snakemake.config),
    )
    return result_line(metrics)


run_script(snakemake, main)
