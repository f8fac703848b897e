"""Rule evaluate_scene: a scene's map against its label raster (pixel agreement, per-class precision and recall,
the confusion table)."""

from landcover_transfer.data.splits import Splits
from landcover_transfer.predict.evaluation import confusion, confusion_frame, label_lookup, scores
from landcover_transfer.workflow.atomic_files import atomic_path, write_json
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    input, output = snakemake.input, snakemake.output
    class_names = Splits.load(input.splits).class_names
    table = confusion(input.classes, input.labels, label_lookup(snakemake.params.classes, class_names),
                      len(class_names))
    summary, per_class = scores(table, class_names)
    with atomic_path(output.per_class) as tmp:
        per_class.to_csv(tmp, index=False)
    with atomic_path(output.confusion) as tmp:
        confusion_frame(table, class_names).to_csv(tmp)
    write_json(output.summary, {"scene": snakemake.wildcards.scene, "labels": input.labels, **summary})
    return (f"{snakemake.wildcards.scene}: {100 * summary['agreement']:.1f}% of {summary['pixels']:,} labelled "
            f"pixels agree ({100 * summary['unknown_share']:.1f}% unknown)")


run_script(snakemake, main)
