rule leaderboard:
    input:
        classical=expand("results/classical/{model}/metrics.json", model=CLASSICAL),
        finetune=result_metrics("finetune"),
        ensemble=expand("results/ensemble/{method}/metrics.json", method=ENSEMBLE_METHODS),
        proba=evaluation_probabilities("classical", "finetune", "ensemble"),
        splits="results/data/splits.npz",
        robustness="results/tables/robustness.csv",
    output:
        csv=table_report("results/tables/leaderboard.csv", "Summary", "leaderboard", "../report/leaderboard.rst"),
        md="results/tables/leaderboard.md",
        html=table_report("results/tables/leaderboard.html", "Summary", "leaderboard", "../report/leaderboard.rst"),
    log:
        "logs/tables/leaderboard.log",
    conda:
        "../envs/plotting.yaml"
    params:
        study_reference=config["study_reference"],
        headline_eps=config["robustness"]["headline_eps"],
        statistics=config["statistics"],
    message:
        "Leaderboard -> {output.html}"
    script:
        "../scripts/aggregate/leaderboard.py"


rule plots:
    input:
        finetune=result_metrics("finetune"),
        proba=evaluation_probabilities("finetune"),
        histories=[f"{folder}/history.csv" for folder in first_seed_folders()],
        splits="results/data/splits.npz",
        leaderboard="results/tables/leaderboard.csv",
    output:
        accuracy=figure_report(
            "results/plots/variant_accuracy.png",
            "Fine-tuning",
            "accuracy of every variant",
            "../report/variant_accuracy.rst",
        ),
        effects=figure_report(
            "results/plots/factor_effects.png", "Fine-tuning", "factor effects", "../report/factor_effects.rst"
        ),
        curves=figure_report(
            directory("results/plots/curves"),
            "Fine-tuning",
            "learning curves of {name}",
            "../report/curves_all.rst",
            patterns=["{name}.png"],
        ),
        leaderboard=figure_report(
            "results/plots/leaderboard.png", "Summary", "leaderboard", "../report/leaderboard.rst"
        ),
    log:
        "logs/plots/plots.log",
    conda:
        "../envs/plotting.yaml"
    params:
        grid=GRID,
        statistics=config["statistics"],
    message:
        "Plots -> results/plots/"
    script:
        "../scripts/aggregate/plots.py"


rule comparisons:
    input:
        classical=result_metrics("classical"),
        finetune=result_metrics("finetune"),
        ensemble=result_metrics("ensemble"),
        proba=evaluation_probabilities("classical", "finetune", "ensemble"),
        splits="results/data/splits.npz",
    output:
        csv=table_report("results/tables/comparisons.csv", "Summary", "comparisons", "../report/comparisons.rst"),
        md="results/tables/comparisons.md",
        html=table_report("results/tables/comparisons.html", "Summary", "comparisons", "../report/comparisons.rst"),
    log:
        "logs/tables/comparisons.log",
    conda:
        "../envs/plotting.yaml"
    params:
        grid=GRID,
        depths=strategy_depths(),
        has_layers={aug: bool(config["augmentations"][aug]) for aug in AUGMENTATIONS},
        statistics=config["statistics"],
        seeds=SEEDS,
    message:
        "Comparisons (paired tests) -> {output.html}"
    script:
        "../scripts/aggregate/comparisons.py"


rule effective_config:
    output:
        yaml=report(
            "results/config/effective_config.yaml",
            category="Summary",
            subcategory="Configuration",
            labels={"file": "effective configuration", "format": "YAML, download"},
            caption="../report/effective_config.rst",
        ),
        html=report(
            "results/config/effective_config.html",
            category="Summary",
            subcategory="Configuration",
            labels={"file": "effective configuration", "format": "HTML, shown in the page"},
            caption="../report/effective_config.rst",
        ),
    log:
        "logs/config/effective_config.log",
    localrule: True
    conda:
        "../envs/plotting.yaml"
    params:
        # every key after --configfile/--config overrides: a changed value reruns this rule
        config=config,
        sources=[str(path) for path in workflow.configfiles],
    message:
        "Effective configuration -> {output.html}"
    script:
        "../scripts/aggregate/effective_config.py"


rule provenance:
    input:
        result_metrics("classical", "finetune", "ensemble"),
    output:
        csv=report(
            "results/config/provenance.csv",
            category="Summary",
            subcategory="Configuration",
            labels={"file": "provenance of every result", "format": "CSV, download"},
            caption="../report/provenance.rst",
        ),
        md="results/config/provenance.md",
        html=report(
            "results/config/provenance.html",
            category="Summary",
            subcategory="Configuration",
            labels={"file": "provenance of every result", "format": "HTML, shown in the page"},
            caption="../report/provenance.rst",
        ),
    log:
        "logs/config/provenance.log",
    localrule: True
    conda:
        "../envs/plotting.yaml"
    message:
        "Provenance of every result -> {output.html}"
    script:
        "../scripts/aggregate/provenance.py"


# What the study cost: the benchmark files of its heavy jobs (docs/cluster.md, What the study cost).
rule usage:
    input:
        unpack(benchmark_files),
    output:
        jobs="results/tables/usage.csv",
        jobs_md="results/tables/usage.md",
        jobs_html=table_report("results/tables/usage.html", "Cost", "usage per job", "../report/usage.rst"),
        rules=table_report("results/tables/usage_by_rule.csv", "Cost", "usage per rule", "../report/usage.rst"),
        rules_md="results/tables/usage_by_rule.md",
        rules_html=table_report("results/tables/usage_by_rule.html", "Cost", "usage per rule", "../report/usage.rst"),
        plot=figure_report("results/plots/usage.png", "Cost", "usage per rule", "../report/usage.rst"),
    log:
        "logs/tables/usage.log",
    conda:
        "../envs/plotting.yaml"
    params:
        gpus=requested_gpus,
        unmeasured=unmeasured_jobs,
    message:
        "What the study cost -> {output.rules_html}"
    script:
        "../scripts/aggregate/usage.py"


# The study's summary: the leaderboard across all parts, the plots, the configuration that produced them and what
# it cost.
rule all_summary:
    input:
        rules.leaderboard.output,
        rules.comparisons.output,
        rules.provenance.output,
        rules.plots.output,
        rules.effective_config.output,
        rules.usage.output,


rule ablation_table:
    input:
        metrics=ablation_results("metrics.json"),
        reports=ablation_results("report.csv"),
        histories=ablation_results("history.csv"),
    output:
        csv="results/tables/ablation.csv",
        md="results/tables/ablation.md",
    log:
        "logs/tables/ablation_table.log",
    localrule: True
    conda:
        "../envs/plotting.yaml"
    params:
        rows=config["ablation"],
        seeds=SEEDS,
        training=used(config["training"], ["epochs", "early_stopping"]),
        batch_sizes=ablation_batch_sizes(config),
    message:
        "Ablation table -> {output.md}"
    script:
        "../scripts/aggregate/ablation_table.py"
