"""Rule export_model: one variant's saved model as Keras, SavedModel, ONNX and LiteRT files, each run by its own
runtime on held-out images and compared with Keras (export.json)."""

from landcover_transfer.workflow.jobs import send_output_to_log

send_output_to_log(snakemake)  # first: TensorFlow's import writes C++ start-up lines, which belong in the job's log

from landcover_transfer.data.dataset import load_configured_dataset
from landcover_transfer.data.splits import Splits
from landcover_transfer.export.bundle import export_variant, parity_images
from landcover_transfer.export.formats import FORMATS
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    input, output, params = snakemake.input, snakemake.output, snakemake.params
    dataset = load_configured_dataset(input.dataset, params.data)
    splits = Splits.load(input.splits)
    held_out = splits.arrays(dataset)["x_evaluation"]
    paths = {name: output[name] for name in FORMATS}
    summary = export_variant(input.model, paths, parity_images(held_out, params.parity["images"]),
                             params.parity["max_abs_diff"], splits.class_names, output.summary)
    worst = max(summary["parity"], key=lambda row: row["max_abs_diff"])
    return (f"4 formats, each giving Keras' class on all {worst['images']} held-out images; largest |dp| "
            f"{worst['max_abs_diff']:.1e} ({worst['format']})")


run_script(snakemake, main)
