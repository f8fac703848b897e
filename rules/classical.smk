rule extract_features:
    input:
        dataset=get_dataset,
        weights=get_weights_input,
    output:
        "results/features/features.npz",
    log:
        "logs/classical/extract_features.log",
    benchmark:
        "benchmarks/classical/extract_features.tsv"
    conda:
        "../envs/tensorflow.yaml"
    threads: resource("features", "threads")
    resources:
        mem_mb=scaled("features", "mem_mb"),
        runtime=scaled("features", "runtime"),
        gpu=resource("features", "gpu"),
    params:
        arch=arch_params("features", config["features"]["architecture"]),
        features=config["features"],
        data=data_reading(),
        weights=get_weights_param,
    message:
        "Frozen features for the classical models from {input} -> {output}"
    script:
        "../scripts/classical/extract_features.py"


rule train_classical:
    input:
        features="results/features/features.npz",
        splits="results/data/splits.npz",
    output:
        metrics="results/classical/{model}/metrics.json",
        report="results/classical/{model}/report.csv",
        confusion=report(
            "results/classical/{model}/confusion.png",
            category="Classical",
            subcategory="Confusion matrices",
            caption="../report/confusion.rst",
            labels={"model": "{model}"},
        ),
        proba_selection="results/classical/{model}/proba_selection.npy",
        proba_evaluation="results/classical/{model}/proba_evaluation.npy",
    log:
        "logs/classical/{model}.log",
    benchmark:
        "benchmarks/classical/{model}.tsv"
    conda:
        "../envs/sklearn.yaml"
    threads: resource("classical", "threads")
    resources:
        mem_mb=scaled("classical", "mem_mb"),
        runtime=scaled("classical", "runtime"),
    params:
        model=lambda wc: classical_spec(wc.model),
    message:
        "Classical model {wildcards.model}"
    script:
        "../scripts/classical/train_classical.py"


rule classical_table:
    input:
        metrics=result_metrics("classical"),
        proba=evaluation_probabilities("classical"),
        splits="results/data/splits.npz",
    output:
        csv=table_report("results/tables/classical.csv", "Classical", "Table 4", "../report/classical_table.rst"),
        md="results/tables/classical.md",
        html=table_report("results/tables/classical.html", "Classical", "Table 4", "../report/classical_table.rst"),
    log:
        "logs/tables/classical_table.log",
    conda:
        "../envs/plotting.yaml"
    params:
        level=config["statistics"]["confidence_level"],
    message:
        "Table 4 -> {output.html}"
    script:
        "../scripts/classical/classical_table.py"


rule all_classical:
    input:
        rules.classical_table.output,
        # Each model's metrics.json too (written last, it marks a finished folder): Snakemake does not
        # rebuild a deleted file whose downstream outputs exist unless a target asks for it.
        expand("results/classical/{model}/metrics.json", model=CLASSICAL),
