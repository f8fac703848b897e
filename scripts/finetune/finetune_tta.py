"""Rule finetune_tta: a fine-tuned variant evaluated with test-time augmentation (the mean of its probabilities
over the 8 flips and 90-degree rotations of each image), from its saved model; no training."""

from landcover_transfer.workflow.jobs import send_output_to_log

send_output_to_log(snakemake)  # first: TensorFlow's import writes C++ start-up lines, which belong in the job's log

from landcover_transfer.data.dataset import load_configured_dataset
from landcover_transfer.data.splits import Splits
from landcover_transfer.evaluation.metrics import result_line, write_evaluation
from landcover_transfer.finetune.models import load_model
from landcover_transfer.finetune.tta import tta_proba
from landcover_transfer.workflow.atomic_files import read_json
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    params, input = snakemake.params, snakemake.input
    dataset = load_configured_dataset(input.dataset, params.data)
    arrays = Splits.load(input.splits).arrays(dataset)
    model = load_model(input.model)
    plain = read_json(input.metrics)
    proba_selection = tta_proba(model, arrays["x_selection"], params.batch_size)
    kept = {key: value for key, value in plain.items()
            if key not in ("name", "accuracy", "precision", "recall", "f1", "provenance")}
    metrics = write_evaluation(
        snakemake.output, name=f"{plain['name']}+tta", y_true=arrays["y_evaluation"],
        proba_evaluation=tta_proba(model, arrays["x_evaluation"], params.batch_size),
        proba_selection=proba_selection, class_names=dataset.class_names,
        extra={**kept, "selection_accuracy": float((proba_selection.argmax(1) == arrays["y_selection"]).mean()),
               "test_time_augmentation": "dihedral (8 views)", "accuracy_without_tta": plain["accuracy"]},
        note=data_note(snakemake.config),
    )
    return f"{result_line(metrics)} (without test-time augmentation {plain['accuracy']:.4f})"


run_script(snakemake, main)
