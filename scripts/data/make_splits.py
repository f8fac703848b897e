from landcover_transfer.data.dataset import load_configured_dataset
from landcover_transfer.data.splits import make_splits
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    dataset = load_configured_dataset(snakemake.input[0], snakemake.params.data)
    evaluation = snakemake.params.evaluation
    splits = make_splits(dataset, evaluation["protocol"], evaluation["selection_fraction"], evaluation["seed"])
    splits.save(snakemake.output[0])
    return (f"splits ({splits.protocol}): fit {len(splits.fit_index)}, selection {len(splits.selection_index)}, "
            f"evaluation {len(splits.y_evaluation)} images")


run_script(snakemake, main)
