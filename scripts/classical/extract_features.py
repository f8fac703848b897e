from landcover_transfer.workflow.jobs import send_output_to_log

send_output_to_log(snakemake)  # first: TensorFlow's import writes C++ start-up lines, which belong in the job's log

import numpy as np

from landcover_transfer.classical.features import extract_dataset_features
from landcover_transfer.data.dataset import load_configured_dataset
from landcover_transfer.workflow.atomic_files import atomic_path
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    dataset = load_configured_dataset(snakemake.input.dataset, snakemake.params.data)
    features = extract_dataset_features(dataset, snakemake.params.arch, snakemake.params.features,
                                        snakemake.params.weights, threads=snakemake.threads)
    with atomic_path(snakemake.output[0]) as tmp:
        np.savez(tmp, train=features["train"], val=features["val"], y_train=dataset.y_train, y_val=dataset.y_val)
    return f"features: {features['train'].shape[1]} per image, {len(features['train']) + len(features['val'])} images"


run_script(snakemake, main)
