rule pretrain_base:
    input:
        dataset=get_dataset,
        splits="results/data/splits.npz",
    output:
        "results/pretrained/{arch}.weights.h5",
    log:
        "logs/pretrain/{arch}.log",
    benchmark:
        "benchmarks/pretrain/{arch}.tsv"
    conda:
        "../envs/tensorflow.yaml"
    threads: resource("pretrain", "threads")
    resources:
        mem_mb=scaled("pretrain", "mem_mb"),
        runtime=scaled("pretrain", "runtime"),
        gpu=resource("pretrain", "gpu"),
    params:
        arch=arch_params("pretrain"),
        data=data_reading(),
        training=used(config["training"], PRETRAIN_TRAINING_KEYS),
        pretrain=config["pretrain"],
    message:
        "Stand-in pre-training of {wildcards.arch} (weights: null) -> {output}"
    script:
        "../scripts/finetune/pretrain_base.py"


rule finetune:
    input:
        dataset=get_dataset,
        splits="results/data/splits.npz",
        weights=get_weights_input,
    output:
        model=f"{variant_dir()}/model.keras",
        history=f"{variant_dir()}/history.csv",
        metrics=f"{variant_dir()}/metrics.json",
        report=f"{variant_dir()}/report.csv",
        proba_selection=f"{variant_dir()}/proba_selection.npy",
        proba_evaluation=f"{variant_dir()}/proba_evaluation.npy",
        curves=report(
            f"{variant_dir()}/curves.png",
            category="Fine-tuning",
            subcategory="{arch}",
            caption="../report/curves.rst",
            labels={
                "architecture": "{arch}",
                "strategy": "{strategy}",
                "augmentation": "{aug}",
                "seed": "{seed}",
                "figure": "learning curves",
            },
        ),
        confusion=report(
            f"{variant_dir()}/confusion.png",
            category="Fine-tuning",
            subcategory="{arch}",
            caption="../report/confusion.rst",
            labels={
                "architecture": "{arch}",
                "strategy": "{strategy}",
                "augmentation": "{aug}",
                "seed": "{seed}",
                "figure": "confusion matrix",
            },
        ),
    log:
        main="logs/finetune/{arch}/{strategy}/{aug}/seed{seed}.log",
        # live training curves (tensorboard --logdir logs/tensorboard); a log, so a failed job keeps it
        tensorboard=directory("logs/tensorboard/{arch}/{strategy}/{aug}/seed{seed}"),
    benchmark:
        "benchmarks/finetune/{arch}/{strategy}/{aug}/seed{seed}.tsv"
    # Trainings before the attacks and ensembles that are ready beside them: the ensemble surrogate's attack and
    # the transfer matrix wait for the last training (measured on the demo: 20 s less idle lane at its end).
    priority: 1
    conda:
        "../envs/tensorflow.yaml"
    threads: resource("finetune", "threads")
    resources:
        mem_mb=scaled("finetune", "mem_mb"),
        runtime=scaled("finetune", "runtime"),
        gpu=resource("finetune", "gpu"),
    params:
        arch=arch_params("finetune"),
        strategy=lambda wc: config["strategies"][wc.strategy],
        augmentation=lambda wc: config["augmentations"][wc.aug],
        schedules=get_strategy_schedules,
        training=lambda wc: {**config["training"], "seed": int(wc.seed)},
        head=config["head"],
        data=data_reading(),
        weights=get_weights_param,
        # resume state of a killed job; outside the declared outputs, so a rerun finds it
        workdir=f"{variant_dir()}/.resume",
        # where a training was kept before seeds had folders: taken over when it is this very training
        unseeded_workdir="results/finetune/{arch}/{strategy}/{aug}/.resume",
    message:
        "Fine-tuning {wildcards.arch}/{wildcards.strategy}/{wildcards.aug} (seed {wildcards.seed})"
    script:
        "../scripts/finetune/finetune.py"


rule finetune_tta:
    input:
        dataset=get_dataset,
        splits="results/data/splits.npz",
        model=f"{variant_dir()}/model.keras",
        metrics=f"{variant_dir()}/metrics.json",
    output:
        metrics=f"{variant_dir()}/tta/metrics.json",
        report=f"{variant_dir()}/tta/report.csv",
        proba_selection=f"{variant_dir()}/tta/proba_selection.npy",
        proba_evaluation=f"{variant_dir()}/tta/proba_evaluation.npy",
        confusion=f"{variant_dir()}/tta/confusion.png",
    log:
        "logs/finetune/{arch}/{strategy}/{aug}/seed{seed}.tta.log",
    benchmark:
        "benchmarks/finetune/{arch}/{strategy}/{aug}/seed{seed}.tta.tsv"
    conda:
        "../envs/tensorflow.yaml"
    threads: resource("finetune", "threads")
    resources:
        mem_mb=scaled("finetune", "mem_mb"),
        runtime=scaled("finetune", "runtime"),
        gpu=resource("finetune", "gpu"),
    params:
        batch_size=config["training"]["batch_size"],
        data=data_reading(),
    message:
        "Test-time augmentation of {wildcards.arch}/{wildcards.strategy}/{wildcards.aug} (seed {wildcards.seed})"
    script:
        "../scripts/finetune/finetune_tta.py"


rule finetune_table:
    input:
        metrics=result_metrics("finetune"),
        proba=evaluation_probabilities("finetune"),
        splits="results/data/splits.npz",
    output:
        csv=table_report("results/tables/finetune.csv", "Fine-tuning", "Table 5", "../report/finetune_table.rst"),
        md="results/tables/finetune.md",
        html=table_report("results/tables/finetune.html", "Fine-tuning", "Table 5", "../report/finetune_table.rst"),
    log:
        "logs/tables/finetune_table.log",
    conda:
        "../envs/plotting.yaml"
    params:
        grid=GRID,
        protocol=config["evaluation"]["protocol"],
        statistics=config["statistics"],
    message:
        "Table 5 -> {output.html}"
    script:
        "../scripts/finetune/finetune_table.py"


rule all_finetune:
    input:
        rules.finetune_table.output,
        # Each variant's metrics.json too (written last, it marks a finished folder): Snakemake does not
        # rebuild a deleted file whose downstream outputs exist unless a target asks for it, so a variant
        # deleted to retrain it would otherwise be skipped ("Nothing to be done").
        get_variant_metrics(),
