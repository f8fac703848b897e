rule predict_scene:
    input:
        scene=lambda wildcards: config["predict"]["scenes"][wildcards.scene]["path"],
        models=[f"{variant_dir(*v.split('/'), FIRST_SEED)}/model.keras" for v in PREDICT_MODELS],
        dataset=get_dataset,
        splits="results/data/splits.npz",
    output:
        classes="results/predict/{scene}/classes.tif",
        probabilities="results/predict/{scene}/probabilities.tif",
        areas="results/predict/{scene}/areas.csv",
        summary="results/predict/{scene}/summary.json",
        quicklook=report(
            "results/predict/{scene}/quicklook.png",
            category="Maps",
            subcategory="Land cover",
            caption="../report/quicklook.rst",
            labels={"scene": "{scene}", "figure": "quicklook"},
        ),
    log:
        "logs/predict/{scene}.log",
    benchmark:
        "benchmarks/predict/{scene}.tsv"
    conda:
        "../envs/tensorflow.yaml"
    threads: resource("predict", "threads")
    resources:
        mem_mb=scaled("predict", "mem_mb"),
        runtime=scaled("predict", "runtime"),
        gpu=resource("predict", "gpu"),
    params:
        scene=lambda wildcards: config["predict"]["scenes"][wildcards.scene],
        settings=used(
            config["predict"],
            (
                "value_mapping",
                "stride",
                "test_time_augmentation",
                "unknown_below",
                "batch_size",
                "colours",
                "colormap",
            ),
        ),
        models=PREDICT_MODELS,
        data=data_reading(),
    message:
        "Land-cover map of scene {wildcards.scene} -> results/predict/{wildcards.scene}/"
    script:
        "../scripts/predict/predict_scene.py"


rule predict:
    input:
        expand(rules.predict_scene.output, scene=config["predict"]["scenes"]),


rule synthetic_scene:
    input:
        dataset=get_dataset,
        splits="results/data/splits.npz",
    output:
        scene="results/predict/synthetic_scene/scene.tif",
        labels="results/predict/synthetic_scene/labels.tif",
    log:
        "logs/predict/synthetic_scene.log",
    conda:
        "../envs/tensorflow.yaml"
    params:
        tiles=config["predict"]["synthetic_scene"]["tiles"],
        seed=config["predict"]["synthetic_scene"]["seed"],
        data=data_reading(),
    message:
        "A scene of held-out images -> {output.scene}"
    script:
        "../scripts/predict/synthetic_scene.py"


rule value_mappings:
    input:
        scene=lambda wildcards: config["predict"]["scenes"][wildcards.scene]["path"],
        models=[f"{variant_dir(*v.split('/'), FIRST_SEED)}/model.keras" for v in PREDICT_MODELS],
        dataset=get_dataset,
        splits="results/data/splits.npz",
    output:
        csv="results/predict/{scene}/value_mappings.csv",
    log:
        "logs/predict/{scene}.value_mappings.log",
    conda:
        "../envs/tensorflow.yaml"
    threads: resource("predict", "threads")
    resources:
        mem_mb=scaled("predict", "mem_mb"),
        runtime=scaled("predict", "runtime"),
        gpu=resource("predict", "gpu"),
    params:
        scene=lambda wildcards: config["predict"]["scenes"][wildcards.scene],
        value_mapping=config["predict"]["value_mapping"],
        unknown_below=config["predict"]["unknown_below"],
        batch_size=config["predict"]["batch_size"],
        models=PREDICT_MODELS,
        data=data_reading(),
    message:
        "The value mappings of scene {wildcards.scene} compared -> {output.csv}"
    script:
        "../scripts/predict/value_mappings.py"
