"""Rule synthetic_scene: a georeferenced scene of held-out evaluation images and its label raster (the demo's and
the tests' scene to map)."""

from landcover_transfer.data.dataset import load_configured_dataset
from landcover_transfer.data.splits import Splits
from landcover_transfer.predict.synthetic_scene import write_synthetic_scene
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    params = snakemake.params
    dataset = load_configured_dataset(snakemake.input.dataset, params.data)
    arrays = Splits.load(snakemake.input.splits).arrays(dataset)
    height, width = write_synthetic_scene(snakemake.output.scene, snakemake.output.labels, arrays["x_evaluation"],
                                          arrays["y_evaluation"], params.tiles, params.seed, dataset.class_names)
    return f"synthetic scene: {width} x {height} px of {params.tiles ** 2} held-out images"


run_script(snakemake, main)
