from pathlib import Path

from landcover_transfer.data import Splits
from landcover_transfer.io import atomic_path
from landcover_transfer.metrics import result_line, write_evaluation
from landcover_transfer.plots import plot_variant_curves
from landcover_transfer.training import clean_workdir, predict_proba, save_inference_model, train_variant
from landcover_transfer.workflow import data_note, load_configured_dataset, phase_switches, run_script


def main(snakemake):
    params, wildcards, output = snakemake.params, snakemake.wildcards, snakemake.output
    dataset = load_configured_dataset(snakemake.input.dataset, params.data)
    arrays = Splits.load(snakemake.input.splits).arrays(dataset)
    model, history, facts = train_variant(
        arrays, arch=params.arch, strategy=params.strategy, augmentation=params.augmentation,
        training=params.training, schedules=params.schedules, head=params.head,
        n_classes=len(dataset.class_names), weights=params.weights, workdir=params.workdir,
        threads=snakemake.threads,
    )
    batch_size = params.training["batch_size"]
    name = f"{wildcards.arch}/{wildcards.strategy}/{wildcards.aug}"
    save_inference_model(model, output.model)
    with atomic_path(output.history) as tmp:
        history.to_csv(tmp, index=False)
    note = data_note(snakemake.config)
    plot_variant_curves(history, output.curves, name, phase_switches(params.strategy, params.training), note)
    metrics = write_evaluation(
        Path(output.metrics).parent, name=name, y_true=arrays["y_evaluation"],
        proba_evaluation=predict_proba(model, arrays["x_evaluation"], batch_size),
        proba_selection=predict_proba(model, arrays["x_selection"], batch_size),
        class_names=dataset.class_names,
        extra={"family": "finetune", "architecture": wildcards.arch, "strategy": wildcards.strategy,
               "augmentation": wildcards.aug, "weights": str(params.weights), **facts},
        note=note,
    )
    clean_workdir(params.workdir)
    return f"{result_line(metrics)}, best epoch {facts['best_epoch']} of {facts['epochs_run']}"


run_script(snakemake, main)
