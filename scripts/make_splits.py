from landcover_transfer.data import make_splits
from landcover_transfer.workflow import load_configured_dataset, run_script


def main(snakemake):
    dataset = load_configured_dataset(snakemake.input[0], snakemake.params.data)
    evaluation = snakemake.params.evaluation
    splits = make_splits(dataset, evaluation["protocol"], evaluation["selection_fraction"], evaluation["seed"])
    splits.save(snakemake.output[0])


run_script(snakemake, main)
