"""Rule predict_chips: a folder of image chips classified by the models of predict.model (predictions.csv)."""

from landcover_transfer.workflow.jobs import send_output_to_log

send_output_to_log(snakemake)  # first: TensorFlow's import writes C++ start-up lines, which belong in the job's log

from landcover_transfer.data.splits import Splits
from landcover_transfer.predict.chips import classify_chips
from landcover_transfer.workflow.atomic_files import atomic_path, write_json
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    from landcover_transfer.finetune.models import load_model

    params, input, output = snakemake.params, snakemake.input, snakemake.output
    table, summary = classify_chips(input.chips, lambda: [load_model(path) for path in input.models], params.models,
                                    Splits.load(input.splits).class_names, params.settings)
    with atomic_path(output.predictions) as tmp:
        table.to_csv(tmp, index=False)
    write_json(output.summary, {"chips": input.chips, "models": params.models, **summary})
    accuracy = f", {100 * summary['accuracy']:.1f}% right where the folder names the class" \
        if "accuracy" in summary else ""
    return f"{snakemake.wildcards.chips}: {summary['chips']} chips classified{accuracy}"


run_script(snakemake, main)
