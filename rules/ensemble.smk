rule ensemble:
    input:
        unpack(get_ensemble_inputs),
    output:
        metrics="results/ensemble/{method}/metrics.json",
        report="results/ensemble/{method}/report.csv",
        proba_evaluation="results/ensemble/{method}/proba_evaluation.npy",
        confusion=report(
            "results/ensemble/{method}/confusion.png",
            category="Ensemble",
            subcategory="Confusion matrices",
            caption="../report/confusion.rst",
            labels={"method": "{method}"},
        ),
    log:
        "logs/ensemble/{method}.log",
    benchmark:
        "benchmarks/ensemble/{method}.tsv"
    conda:
        "../envs/sklearn.yaml"
    params:
        ensemble=config["ensemble"],
    message:
        "Ensemble {wildcards.method}"
    script:
        "../scripts/ensemble/ensemble.py"


rule ensemble_table:
    input:
        metrics=result_metrics("ensemble"),
        proba=evaluation_probabilities("ensemble"),
        splits="results/data/splits.npz",
    output:
        csv=table_report("results/tables/ensemble.csv", "Ensemble", "ensembles", "../report/ensemble_table.rst"),
        md="results/tables/ensemble.md",
        html=table_report("results/tables/ensemble.html", "Ensemble", "ensembles", "../report/ensemble_table.rst"),
    log:
        "logs/tables/ensemble_table.log",
    conda:
        "../envs/plotting.yaml"
    params:
        methods=ENSEMBLE_METHODS,
        level=config["statistics"]["confidence_level"],
    message:
        "Ensemble table -> {output.html}"
    script:
        "../scripts/ensemble/ensemble_table.py"


rule all_ensemble:
    input:
        rules.ensemble_table.output,
        # Each method's metrics.json too: see all_finetune.
        expand("results/ensemble/{method}/metrics.json", method=ENSEMBLE_METHODS),
