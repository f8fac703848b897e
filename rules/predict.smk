# The saved models that map the scenes and classify the chips (predict.model: their first seed).
PREDICT_MODEL_FILES = [f"{variant_dir(*v.split('/'), FIRST_SEED)}/model.keras" for v in PREDICT_MODELS]


rule predict_scene:
    input:
        scene=scene_path,
        models=PREDICT_MODEL_FILES,
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
        scene=scene_reading,
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


rule evaluate_scene:
    input:
        classes=rules.predict_scene.output.classes,
        labels=lambda wildcards: config["predict"]["scenes"][wildcards.scene]["labels"]["path"],
        splits="results/data/splits.npz",
    output:
        summary="results/predict/{scene}/evaluation.json",
        per_class="results/predict/{scene}/evaluation.csv",
        confusion="results/predict/{scene}/confusion.csv",
    log:
        "logs/predict/{scene}.evaluation.log",
    conda:
        "../envs/tensorflow.yaml"
    params:
        classes=lambda wildcards: config["predict"]["scenes"][wildcards.scene]["labels"].get("classes"),
    message:
        "The map of scene {wildcards.scene} against its labels -> {output.summary}"
    script:
        "../scripts/predict/evaluate_scene.py"


rule predict_chips:
    input:
        chips=lambda wildcards: config["predict"]["chips"][wildcards.chips],
        models=PREDICT_MODEL_FILES,
        splits="results/data/splits.npz",
    output:
        predictions="results/predict/chips/{chips}/predictions.csv",
        summary="results/predict/chips/{chips}/summary.json",
    log:
        "logs/predict/chips/{chips}.log",
    benchmark:
        "benchmarks/predict/chips/{chips}.tsv"
    conda:
        "../envs/tensorflow.yaml"
    threads: resource("predict", "threads")
    resources:
        mem_mb=scaled("predict", "mem_mb"),
        runtime=scaled("predict", "runtime"),
        gpu=resource("predict", "gpu"),
    params:
        settings=used(config["predict"], ("test_time_augmentation", "unknown_below", "batch_size")),
        models=PREDICT_MODELS,
    message:
        "Classifying the chips of {input.chips} -> {output.predictions}"
    script:
        "../scripts/predict/predict_chips.py"


rule predict:
    input:
        expand(rules.predict_scene.output, scene=config["predict"]["scenes"]),
        expand(rules.evaluate_scene.output, scene=LABELLED_SCENES),
        expand(rules.predict_chips.output, chips=config["predict"]["chips"]),


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
        scene=scene_path,
        models=PREDICT_MODEL_FILES,
        dataset=get_dataset,
        splits="results/data/splits.npz",
    output:
        csv="results/predict/{scene}/value_mappings.csv",
    log:
        "logs/predict/{scene}.value_mappings.log",
    benchmark:
        "benchmarks/predict/{scene}.value_mappings.tsv"
    conda:
        "../envs/tensorflow.yaml"
    threads: resource("predict", "threads")
    resources:
        mem_mb=scaled("predict", "mem_mb"),
        runtime=scaled("predict", "runtime"),
        gpu=resource("predict", "gpu"),
    params:
        scene=scene_reading,
        value_mapping=config["predict"]["value_mapping"],
        unknown_below=config["predict"]["unknown_below"],
        batch_size=config["predict"]["batch_size"],
        models=PREDICT_MODELS,
        data=data_reading(),
    message:
        "The value mappings of scene {wildcards.scene} compared -> {output.csv}"
    script:
        "../scripts/predict/value_mappings.py"
