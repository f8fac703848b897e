rule synthetic_dataset:
    output:
        "results/data/synthetic.h5",
    log:
        "logs/data/synthetic_dataset.log",
    benchmark:
        "benchmarks/data/synthetic_dataset.tsv"
    conda:
        "../envs/sklearn.yaml"
    params:
        synthetic=config["data"]["synthetic"],
        class_names=config["data"]["class_names"],
    message:
        "Synthetic demo images -> {output}"
    script:
        "../scripts/data/synthetic_dataset.py"


rule eurosat_to_h5:
    input:
        followed(config["data"]["eurosat"]["archive"]),
    output:
        "results/data/earth_data.h5",
    log:
        "logs/data/eurosat_to_h5.log",
    benchmark:
        "benchmarks/data/eurosat_to_h5.tsv"
    conda:
        "../envs/sklearn.yaml"
    params:
        eurosat=config["data"]["eurosat"],
    message:
        "EuroSAT release {input} -> {output}"
    script:
        "../scripts/data/eurosat_to_h5.py"


rule make_splits:
    input:
        get_dataset,
    output:
        "results/data/splits.npz",
    log:
        "logs/data/make_splits.log",
    conda:
        "../envs/sklearn.yaml"
    params:
        data=data_reading(),
        # the split settings, in config order (test-time augmentation is not one: it must not redo the splits)
        evaluation={k: v for k, v in config["evaluation"].items() if k != "test_time_augmentation"},
    message:
        "Fit, selection and evaluation splits of {input} -> {output}"
    script:
        "../scripts/data/make_splits.py"


rule all_data:
    input:
        "results/data/splits.npz",
