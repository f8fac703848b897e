from landcover_transfer.reporting.pages import write_effective_config
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    write_effective_config(snakemake.params.config, snakemake.params.sources, snakemake.output.yaml,
                           snakemake.output.html)
    return f"effective configuration: {snakemake.output.yaml}"


run_script(snakemake, main)
