"""Rule predict_scene: one scene's land-cover map (classes.tif, probabilities.tif), its areas and quicklook, from
the saved models of predict.model."""

from landcover_transfer.workflow.jobs import send_output_to_log

send_output_to_log(snakemake)  # first: TensorFlow's import writes C++ start-up lines, which belong in the job's log

from landcover_transfer.data.splits import Splits
from landcover_transfer.predict.maps import map_scene
from landcover_transfer.predict.value_mapping import channel_stats
from landcover_transfer.workflow.jobs import run_script


def training_stats(snakemake) -> dict | None:
    """The fit images' per-channel statistics, which value mapping match_training needs (read only then)."""
    if snakemake.params.settings["value_mapping"]["method"] != "match_training":
        return None
    from landcover_transfer.data.dataset import load_configured_dataset

    dataset = load_configured_dataset(snakemake.input.dataset, snakemake.params.data)
    return channel_stats(Splits.load(snakemake.input.splits).arrays(dataset)["x_fit"])


def main(snakemake):
    params, input = snakemake.params, snakemake.input
    stats = training_stats(snakemake)
    from landcover_transfer.finetune.models import load_model

    summary = map_scene(snakemake.wildcards.scene, input.scene, params.scene, params.settings,
                        lambda: [load_model(path) for path in input.models], params.models,
                        Splits.load(input.splits).class_names, stats, snakemake.output)
    top = sorted(summary["shares"].items(), key=lambda item: -item[1])[:3]
    return (f"{summary['scene']}: {summary['width']} x {summary['height']} px in {summary['seconds']:.0f} s, "
            + ", ".join(f"{name} {100 * share:.1f}%" for name, share in top))


run_script(snakemake, main)
