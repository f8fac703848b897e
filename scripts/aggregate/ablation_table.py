"""Rule ablation_table: the ablation rows' results (config `ablation`) as a table and, for the row marked final,
its per-class report (results/tables/ablation.md; `make recipe` copies it to docs/recipe.md)."""

import pandas as pd

from landcover_transfer.aggregate.ablation import ablation_table, per_class_over_seeds, recipe_markdown
from landcover_transfer.workflow.atomic_files import atomic_path, read_json
from landcover_transfer.workflow.jobs import data_note, run_script


def main(snakemake):
    rows, seeds, inputs = snakemake.params.rows, snakemake.params.seeds, snakemake.input
    n = len(seeds)  # the inputs hold each row's seeds in turn

    def per_row(paths, read):
        return [[read(path) for path in paths[i * n:(i + 1) * n]] for i in range(len(rows))]

    table = ablation_table(rows, per_row(inputs.metrics, read_json), per_row(inputs.histories, pd.read_csv),
                           snakemake.params.batch_sizes)
    final = next((index for index, row in enumerate(rows) if row.get("final")), None)
    per_class = None if final is None else per_class_over_seeds(
        per_row(inputs.reports, lambda path: pd.read_csv(path, index_col="class"))[final])
    with atomic_path(snakemake.output.csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    title = "Recipe ablation" + (f" ({data_note(snakemake.config)})" if data_note(snakemake.config) else "")
    with atomic_path(snakemake.output.md) as tmp:
        with open(tmp, "w") as f:
            f.write(recipe_markdown(table, title, snakemake.params.training, None if final is None else rows[final],
                                    per_class))
    best = table.loc[table["Accuracy (mean)"].idxmax()]
    return f"ablation: {len(table)} rows; best {best['Step']} {best['Accuracy (mean)']:.4f} over {n} seeds"


run_script(snakemake, main)
