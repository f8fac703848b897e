from pathlib import Path

from landcover_transfer.data import Splits
from landcover_transfer.io import atomic_path
from landcover_transfer.metrics import write_evaluation
from landcover_transfer.plots import plot_learning_curves
from landcover_transfer.resume import claim, fingerprint
from landcover_transfer.training import (predict_proba, save_inference_model, train_variant, training_code,
                                        training_software)
from landcover_transfer.workflow import load_configured_dataset, run_script


def main(snakemake):
    params, input = snakemake.params, snakemake.input
    dataset = load_configured_dataset(input.dataset, params.data)
    arrays = Splits.load(input.splits).arrays(dataset)
    definition = {key: params[key] for key in ("arch", "strategy", "augmentation", "schedules", "training", "head")}
    record = fingerprint({**definition, "weights": params.weights, "software": training_software()},
                         files={"dataset": input.dataset, "splits": input.splits, "weights": input.get("weights"),
                                **training_code()})
    with claim(params.workdir) as folder:
        folder.adopt(record)
        model, history, facts = train_variant(
            arrays, **definition, n_classes=len(dataset.class_names), weights=params.weights, resume=folder,
            threads=snakemake.threads,
        )
        write_outputs(snakemake, dataset, arrays, model, history, {**facts, "fingerprint": record["sha256"]})
        folder.keep_finished()


def write_outputs(snakemake, dataset, arrays, model, history, facts) -> None:
    params, wildcards, output = snakemake.params, snakemake.wildcards, snakemake.output
    batch_size = params.training["batch_size"]
    name = f"{wildcards.arch}/{wildcards.strategy}/{wildcards.aug}"
    save_inference_model(model, output.model)
    with atomic_path(output.history) as tmp:
        history.to_csv(tmp, index=False)
    plot_learning_curves({name: history}, output.curves, name)
    write_evaluation(  # metrics.json last: it marks a finished variant
        Path(output.metrics).parent, name=name, y_true=arrays["y_evaluation"],
        proba_evaluation=predict_proba(model, arrays["x_evaluation"], batch_size),
        proba_selection=predict_proba(model, arrays["x_selection"], batch_size),
        class_names=dataset.class_names,
        extra={"family": "finetune", "architecture": wildcards.arch, "strategy": wildcards.strategy,
               "augmentation": wildcards.aug, "weights": str(params.weights), **facts},
    )


run_script(snakemake, main)
