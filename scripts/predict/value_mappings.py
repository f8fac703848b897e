"""Rule value_mappings: each value mapping of a scene measured without its labels (distance of the mapped scene's
pixels to the training images', clipped share, the model's confident share and class shares on sampled windows)."""

from landcover_transfer.workflow.jobs import send_output_to_log

send_output_to_log(snakemake)  # first: TensorFlow's import writes C++ start-up lines, which belong in the job's log

from landcover_transfer.data.dataset import load_configured_dataset
from landcover_transfer.data.splits import Splits
from landcover_transfer.finetune.models import load_model
from landcover_transfer.predict.mapping_choice import compare_mappings
from landcover_transfer.predict.maps import check_models
from landcover_transfer.predict.scene import window_predictor
from landcover_transfer.predict.value_mapping import pixel_sample
from landcover_transfer.workflow.atomic_files import atomic_path
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    params, input = snakemake.params, snakemake.input
    dataset = load_configured_dataset(input.dataset, params.data)
    splits = Splits.load(input.splits)
    fit = splits.arrays(dataset)["x_fit"]
    pixels = pixel_sample(fit, 1_000_000).astype("float32")
    models = [load_model(path) for path in input.models]
    size = check_models(models, params.models, splits.class_names)
    table = compare_mappings(input.scene, params.scene, params.value_mapping, pixels,
                             window_predictor(models, params.batch_size, tta=False), size, splits.class_names,
                             params.unknown_below if params.unknown_below is not None else 0.5)
    with atomic_path(snakemake.output.csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    closest = table.loc[table["distance_mean"].idxmin()]
    return (f"{snakemake.wildcards.scene}: closest to the training images: {closest['method']} "
            f"({closest['distance_mean']:.1f} levels); confident windows "
            + ", ".join(f"{row.method} {100 * row.confident_share:.0f}%" for row in table.itertuples()))


run_script(snakemake, main)
