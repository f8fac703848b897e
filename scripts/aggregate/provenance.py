from pathlib import Path

from landcover_transfer.reporting.pages import titled
from landcover_transfer.reporting.tables import write_table
from landcover_transfer.workflow.atomic_files import read_json
from landcover_transfer.workflow.jobs import data_note, run_script
from landcover_transfer.workflow.provenance import provenance_table


def main(snakemake):
    # a result's id is its folder under results/: classical/svm, finetune/vgg16/last_block/none, ensemble/stacking
    records = {Path(path).parent.relative_to("results").as_posix(): read_json(path) for path in snakemake.input}
    table = provenance_table(records)
    title = titled("Provenance of every result; its config entries: provenance.config in its metrics.json",
                   data_note(snakemake.config))
    write_table(table, snakemake.output.csv, snakemake.output.md, snakemake.output.html, title=title)
    commits = sorted({str(commit) for commit in table["Git Commit"]})
    return f"provenance: {len(table)} results, commits {', '.join(commits)}"


run_script(snakemake, main)
