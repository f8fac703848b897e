rule synthetic_dataset:
    message:
        "Synthetic demo images -> {output}"
    output:
        "results/data/synthetic.h5",
    params:
        synthetic=config["data"]["synthetic"],
        class_names=config["data"]["class_names"],
    log:
        "logs/data/synthetic_dataset.log",
    benchmark:
        "benchmarks/data/synthetic_dataset.tsv"
    conda:
        "../envs/sklearn.yaml"
    script:
        "../scripts/synthetic_dataset.py"


rule eurosat_to_h5:
    message:
        "EuroSAT release {input} -> {output}"
    input:
        followed(config["data"]["eurosat"]["archive"]),
    output:
        "results/data/earth_data.h5",
    params:
        eurosat=config["data"]["eurosat"],
    log:
        "logs/data/eurosat_to_h5.log",
    benchmark:
        "benchmarks/data/eurosat_to_h5.tsv"
    conda:
        "../envs/sklearn.yaml"
    script:
        "../scripts/eurosat_to_h5.py"


rule make_splits:
    message:
        "Fit, selection and evaluation splits of {input} -> {output}"
    input:
        get_dataset,
    output:
        "results/data/splits.npz",
    params:
        data=data_reading(),
        evaluation=config["evaluation"],
    log:
        "logs/data/make_splits.log",
    conda:
        "../envs/sklearn.yaml"
    script:
        "../scripts/make_splits.py"


rule pretrain_base:
    message:
        "Stand-in pre-training of {wildcards.arch} (weights: null) -> {output}"
    input:
        dataset=get_dataset,
        splits="results/data/splits.npz",
    output:
        "results/pretrained/{arch}.weights.h5",
    params:
        arch=arch_params("pretrain"),
        data=data_reading(),
        training=used(config["training"], PRETRAIN_TRAINING_KEYS),
        pretrain=config["pretrain"],
    threads: resource("pretrain", "threads", 4)
    resources:
        mem_mb=scaled("pretrain", "mem_mb", 16000),
        runtime=scaled("pretrain", "runtime", 240),
        gpu=resource("pretrain", "gpu", 1),
    log:
        "logs/pretrain/{arch}.log",
    benchmark:
        "benchmarks/pretrain/{arch}.tsv"
    conda:
        "../envs/tensorflow.yaml"
    script:
        "../scripts/pretrain_base.py"


rule all_data:
    input:
        "results/data/splits.npz",
