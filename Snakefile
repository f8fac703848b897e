# landcover-transfer: the study's transfer-learning workflow for Sentinel-2 land-cover images.
# Stages have their own target rules (all_data, all_classical, all_finetune, all_ensemble, all_robustness,
# all_summary: leaderboard, plots, effective configuration, predict: the land-cover maps of predict.scenes, and
# export: the variants of export.model as Keras, SavedModel, ONNX and LiteRT files with a model card);
# `snakemake -j4` runs them all with config/config.yaml.

import os

from snakemake.utils import min_version

min_version("9.0")


# The study's defaults; --configfile overrides them key by key (run from any working directory).
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/reporting.smk"
include: "rules/data.smk"
include: "rules/classical.smk"
include: "rules/finetune.smk"
include: "rules/ensemble.smk"
include: "rules/robustness.smk"
include: "rules/aggregate.smk"
include: "rules/predict.smk"
include: "rules/export.smk"


rule all:
    default_target: True
    input:
        rules.all_classical.input,
        rules.all_finetune.input,
        rules.all_ensemble.input,
        rules.all_summary.input,
        rules.all_robustness.input,
        rules.predict.input,
        rules.export.input,
    message:
        "Done: tables in results/tables/, plots in results/plots/; report: snakemake --report results/report.html"
