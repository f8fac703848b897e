# The variants of `export.model` shipped: results/export/<arch>/<strategy>/<aug>/ (docs/export.md).
EXPORTED = "results/export/{arch}/{strategy}/{aug}"


rule export_model:
    input:
        model=f"{variant_dir(seed=FIRST_SEED)}/model.keras",
        dataset=get_dataset,
        splits="results/data/splits.npz",
    output:
        keras=f"{EXPORTED}/model.keras",
        tf_saved_model=directory(f"{EXPORTED}/saved_model"),
        onnx=f"{EXPORTED}/model.onnx",
        litert=f"{EXPORTED}/model.tflite",
        summary=f"{EXPORTED}/export.json",
    log:
        "logs/export/{arch}/{strategy}/{aug}.log",
    benchmark:
        "benchmarks/export/{arch}/{strategy}/{aug}.tsv"
    conda:
        "../envs/tensorflow.yaml"
    threads: resource("export", "threads")
    resources:
        mem_mb=scaled("export", "mem_mb"),
        runtime=scaled("export", "runtime"),
        gpu=resource("export", "gpu"),
    params:
        parity=config["export"]["parity"],
        data=data_reading(),
    message:
        "Exporting {wildcards.arch}/{wildcards.strategy}/{wildcards.aug} -> {output.summary} and its models"
    script:
        "../scripts/export/export_model.py"


rule model_card:
    input:
        export=rules.export_model.output.summary,
        metrics=f"{variant_dir(seed=FIRST_SEED)}/metrics.json",
        report=f"{variant_dir(seed=FIRST_SEED)}/report.csv",
        proba_evaluation=f"{variant_dir(seed=FIRST_SEED)}/proba_evaluation.npy",
        splits="results/data/splits.npz",
        attacks=expand(
            "results/robustness/finetune/{{arch}}/{{strategy}}/{{aug}}/{attack}/robust.json",
            attack=ROBUSTNESS["attacks"],
        ),
    output:
        card=f"{EXPORTED}/model_card.md",
    log:
        "logs/export/{arch}/{strategy}/{aug}.model_card.log",
    conda:
        "../envs/plotting.yaml"
    params:
        variant="{arch}/{strategy}/{aug}",
        confidence_level=config["statistics"]["confidence_level"],
    message:
        "Model card -> {output.card}"
    script:
        "../scripts/export/model_card.py"


rule export:
    input:
        [f"results/export/{v}/model_card.md" for v in EXPORT_MODELS],
