from landcover_transfer.data.eurosat import convert_eurosat
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    spec = snakemake.params.eurosat
    convert_eurosat(snakemake.input[0], snakemake.output[0], classes=spec["classes"],
                    exclude_classes=spec["exclude_classes"], val_fraction=spec["val_fraction"], seed=spec["seed"])
    return f"EuroSAT release converted: {snakemake.output[0]}"


run_script(snakemake, main)
