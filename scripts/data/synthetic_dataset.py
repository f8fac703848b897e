from landcover_transfer.data.dataset import write_dataset
from landcover_transfer.data.synthetic import make_synthetic
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    spec = snakemake.params.synthetic
    dataset = make_synthetic(spec["train_per_class"], spec["val_per_class"], seed=spec["seed"],
                             class_names=snakemake.params.class_names)
    write_dataset(snakemake.output[0], dataset)
    return (f"synthetic demo data: {len(dataset.y_train)} training and {len(dataset.y_val)} validation images, "
            f"{len(dataset.class_names)} classes")


run_script(snakemake, main)
