
from landcover_transfer.workflow.jobs import send_output_to_log

send_output_to_log(snakemake)  # first: TensorFlow's import writes C++ start-up lines, which belong in the job's log

from landcover_transfer.data.dataset import load_configured_dataset
from landcover_transfer.data.splits import Splits
from landcover_transfer.evaluation.metrics import result_line, write_evaluation
from landcover_transfer.finetune.definition import is_same_training, training_record
from landcover_transfer.finetune.phases import phase_switches
from landcover_transfer.finetune.resume import claim, take_over
from landcover_transfer.finetune.tensorboard_log import tensorboard_callbacks
from landcover_transfer.finetune.training import (
    distribution,
    predict_proba,
    save_inference_model,
    train_variant,
    training_software,
)
from landcover_transfer.reporting.plots import plot_variant_curves
from landcover_transfer.workflow.atomic_files import atomic_path
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    params, input = snakemake.params, snakemake.input
    dataset = load_configured_dataset(input.dataset, params.data)
    arrays = Splits.load(input.splits).arrays(dataset)
    definition = {key: params[key] for key in ("arch", "strategy", "augmentation", "schedules", "training", "head")}
    record = training_record({**definition, "weights": params.weights, "software": training_software()},
                             files={"dataset": input.dataset, "splits": input.splits, "weights": input.get("weights")})
    take_over(params.unseeded_workdir, params.workdir, record, is_same_training)
    with claim(params.workdir) as folder:
        folder.adopt(record, is_same_training)
        # the live log, rewritten from the epochs the state holds (owned with the folder)
        watch = tensorboard_callbacks(snakemake.log.tensorboard, (folder.load_state() or {}).get("history", []))
        model, history, facts = train_variant(
            arrays, **definition, n_classes=len(dataset.class_names), weights=params.weights, resume=folder,
            threads=snakemake.threads, extra_callbacks=watch, distribute=distribution(snakemake.resources.gpu),
        )
        result = write_outputs(snakemake, dataset, arrays, model, history, {**facts, "fingerprint": record["sha256"]})
        folder.keep_finished()
    return result


def write_outputs(snakemake, dataset, arrays, model, history, facts) -> str:
    params, wildcards, output = snakemake.params, snakemake.wildcards, snakemake.output
    batch_size = params.training["batch_size"]
    name = f"{wildcards.arch}/{wildcards.strategy}/{wildcards.aug}/seed{wildcards.seed}"
    save_inference_model(model, output.model)
    with atomic_path(output.history) as tmp:
        history.to_csv(tmp, index=False)
    note = data_note(snakemake.config)
    plot_variant_curves(history, output.curves, name, phase_switches(params.strategy, params.training), note)
    metrics = write_evaluation(
        output, name=name, y_true=arrays["y_evaluation"],
        proba_evaluation=predict_proba(model, arrays["x_evaluation"], batch_size),
        proba_selection=predict_proba(model, arrays["x_selection"], batch_size),
        class_names=dataset.class_names,
        extra={"family": "finetune", "architecture": wildcards.arch, "strategy": wildcards.strategy,
               "augmentation": wildcards.aug, "seed": int(wildcards.seed), "weights": str(params.weights), **facts},
        note=note,
    )
    return f"{result_line(metrics)}, best epoch {facts['best_epoch']} of {facts['epochs_run']}"


run_script(snakemake, main)
