from landcover_transfer.workflow.jobs import send_output_to_log

send_output_to_log(snakemake)  # first: TensorFlow's import writes C++ start-up lines, which belong in the job's log

import logging

from landcover_transfer.data.dataset import load_configured_dataset
from landcover_transfer.data.splits import Splits
from landcover_transfer.finetune.pretrain import pretrain_stand_in
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    dataset = load_configured_dataset(snakemake.input.dataset, snakemake.params.data)
    arrays = Splits.load(snakemake.input.splits).arrays(dataset)
    facts = pretrain_stand_in(arrays, arch=snakemake.params.arch, training=snakemake.params.training,
                              pretrain=snakemake.params.pretrain, n_classes=len(dataset.class_names),
                              path=snakemake.output[0], threads=snakemake.threads)
    logging.info("stand-in pre-training done: %s", facts)
    return (f"stand-in pre-training {snakemake.wildcards.arch}: selection accuracy "
            f"{facts['selection_accuracy_inference_mode']:.4f} after {facts['epochs']} epochs")


run_script(snakemake, main)
