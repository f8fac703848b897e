from landcover_transfer.reporting import titled
from landcover_transfer.tables import collect_metrics, ensemble_table, write_table
from landcover_transfer.workflow import data_note, run_script


def main(snakemake):
    table = ensemble_table(collect_metrics(snakemake.input), method_order=snakemake.params.methods)
    title = titled("Ensembles of the fine-tuned variants, evaluation split", data_note(snakemake.config))
    write_table(table, snakemake.output.csv, snakemake.output.md, snakemake.output.html, title=title,
                multiline=["Members"])
    return f"ensemble table: {len(table)} methods"


run_script(snakemake, main)
