# A fine-tuned variant or the ensembles (a regex listing each of 10,000 variants made every match of a file name
# against the rule's patterns slow).
wildcard_constraints:
    target=f"ensemble|finetune/{GRID_NAME}/{GRID_NAME}/{GRID_NAME}",


# All attacks of one model in one job: TensorFlow, the data and the model are loaded once (each job is a process of
# its own, and its start-up costs more than a small model's attack). One result folder per attack, as before.
rule attack:
    input:
        unpack(get_attack_inputs),
    output:
        results=expand("results/robustness/{{target}}/{attack}/robust.json", attack=ROBUSTNESS["attacks"]),
        # the images at robustness.transfer_eps: the sources of the transfer matrix
        adversarial=expand("results/robustness/{{target}}/{attack}/adversarial.npy", attack=ROBUSTNESS["attacks"]),
        examples=[
            report(
                f"results/robustness/{{target}}/{attack}/examples.png",
                category="Robustness",
                subcategory="Adversarial examples",
                caption="../report/adversarial_examples.rst",
                labels={"model": "{target}", "attack": attack},
            )
            for attack in ROBUSTNESS["attacks"]
        ],
    log:
        "logs/robustness/{target}.log",
    benchmark:
        "benchmarks/robustness/{target}.tsv"
    conda:
        "../envs/tensorflow.yaml"
    threads: resource("attack", "threads")
    resources:
        mem_mb=scaled("attack", "mem_mb"),
        runtime=scaled("attack", "runtime"),
        gpu=resource("attack", "gpu"),
    params:
        attacks=ROBUSTNESS["attacks"],
        robustness=attack_settings(),
        members=lambda wc: config["ensemble"]["members"] if wc.target == "ensemble" else [],
        data=data_reading(),
    message:
        "Attacking {wildcards.target} with " + ", ".join(ROBUSTNESS["attacks"])
    script:
        "../scripts/robustness/attack.py"


rule transfer_matrix:
    input:
        dataset=get_dataset,
        splits="results/data/splits.npz",
        adversarial=expand(
            "results/robustness/{target}/{attack}/adversarial.npy",
            target=ATTACK_TARGETS,
            attack=ROBUSTNESS["transfer_attack"],
        ),
        models=[f"{folder}/model.keras" for folder in first_seed_folders()],
        metrics=[f"{folder}/metrics.json" for folder in first_seed_folders()],
        proba_selection=[f"{folder}/proba_selection.npy" for folder in first_seed_folders()]
        + expand("results/classical/{model}/proba_selection.npy", model=config["ensemble"]["include_classical"]),
        features="results/features/features.npz",
        weights=get_weights_input,
    output:
        csv="results/robustness/transfer.csv",
    log:
        "logs/robustness/transfer_matrix.log",
    benchmark:
        "benchmarks/robustness/transfer_matrix.tsv"
    conda:
        "../envs/tensorflow.yaml"
    threads: resource("attack", "threads")
    resources:
        mem_mb=scaled("attack", "mem_mb"),
        runtime=scaled("attack", "runtime"),
    params:
        robustness=used(ROBUSTNESS, SUBSET_KEYS),
        # the first seeds' ensembles (not ensemble.seeds)
        ensemble=used(config["ensemble"], ("members", "methods", "include_classical", "stacking")),
        classical=config["classical"]["models"],
        extractor=arch_params("features", config["features"]["architecture"]),
        features=config["features"],
        weights=get_weights_param,
        data=data_reading(),
    message:
        "Transfer matrix -> {output.csv}"
    script:
        "../scripts/robustness/transfer_matrix.py"


rule robustness_table:
    input:
        results=get_attack_results(),
        transfer="results/robustness/transfer.csv",
        finetune=[f"{folder}/metrics.json" for folder in first_seed_folders()],
    output:
        robustness=table_report(
            "results/tables/robustness.csv", "Robustness", "clean vs robust accuracy", "../report/robustness_table.rst"
        ),
        robustness_md="results/tables/robustness.md",
        robustness_html=table_report(
            "results/tables/robustness.html",
            "Robustness",
            "clean vs robust accuracy",
            "../report/robustness_table.rst",
        ),
        transfer=table_report(
            "results/tables/transfer.csv", "Robustness", "transfer matrix", "../report/transfer_table.rst"
        ),
        transfer_md="results/tables/transfer.md",
        transfer_html=table_report(
            "results/tables/transfer.html", "Robustness", "transfer matrix", "../report/transfer_table.rst"
        ),
        adversarial_training=table_report(
            "results/tables/adversarial_training.csv",
            "Robustness",
            "adversarial training",
            "../report/adversarial_training_table.rst",
        ),
        adversarial_training_md="results/tables/adversarial_training.md",
        adversarial_training_html=table_report(
            "results/tables/adversarial_training.html",
            "Robustness",
            "adversarial training",
            "../report/adversarial_training_table.rst",
        ),
    log:
        "logs/tables/robustness_table.log",
    conda:
        "../envs/plotting.yaml"
    params:
        robustness=ROBUSTNESS,
        augmentations={name: config["augmentations"][name] for name in AUGMENTATIONS},
    message:
        "Robustness tables -> results/tables/"
    script:
        "../scripts/robustness/robustness_table.py"


rule robustness_plots:
    input:
        results=get_attack_results(),
        transfer="results/robustness/transfer.csv",
        splits="results/data/splits.npz",
    output:
        curves=figure_report(
            directory("results/plots/robustness"),
            "Robustness",
            "accuracy vs eps, {arch}",
            "../report/robustness_curves.rst",
            patterns=["{arch}.png"],
        ),
        transfer=figure_report(
            "results/plots/transfer_matrix.png", "Robustness", "transfer matrix", "../report/transfer_table.rst"
        ),
    log:
        "logs/plots/robustness_plots.log",
    conda:
        "../envs/plotting.yaml"
    params:
        robustness=ROBUSTNESS,
        architectures=ARCHS,
    message:
        "Robustness plots -> results/plots/"
    script:
        "../scripts/robustness/robustness_plots.py"


rule all_robustness:
    input:
        rules.robustness_table.output,
        rules.robustness_plots.output,
