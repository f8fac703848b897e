rule leaderboard:
    input:
        classical=expand("results/classical/{model}/metrics.json", model=CLASSICAL),
        finetune=get_variant_metrics(),
        ensemble=expand("results/ensemble/{method}/metrics.json", method=ENSEMBLE_METHODS),
        robustness="results/tables/robustness.csv",
    output:
        csv=report("results/tables/leaderboard.csv", category="Summary", labels={"table": "leaderboard"},
                   caption="../report/leaderboard.rst"),
        md="results/tables/leaderboard.md",
    params:
        study_reference=config["study_reference"],
        headline_eps=config["robustness"]["headline_eps"],
    log:
        "logs/tables/leaderboard.log",
    conda:
        "../envs/plotting.yaml"
    script:
        "../scripts/leaderboard.py"


rule plots:
    input:
        finetune=get_variant_metrics(),
        leaderboard="results/tables/leaderboard.csv",
    output:
        accuracy=report("results/plots/variant_accuracy.png", category="Fine-tuning",
                        labels={"figure": "accuracy of every variant"}, caption="../report/variant_accuracy.rst"),
        effects=report("results/plots/factor_effects.png", category="Fine-tuning",
                       labels={"figure": "factor effects"}, caption="../report/factor_effects.rst"),
        curves=report(
            directory("results/plots/curves"),
            patterns=["{name}.png"],
            category="Fine-tuning",
            labels={"figure": "learning curves {name}"},
            caption="../report/curves_all.rst",
        ),
        leaderboard=report("results/plots/leaderboard.png", category="Summary",
                           labels={"figure": "leaderboard"}, caption="../report/leaderboard.rst"),
    params:
        grid=GRID,
    log:
        "logs/plots/plots.log",
    conda:
        "../envs/plotting.yaml"
    script:
        "../scripts/plots.py"


rule all_tables:
    input:
        rules.leaderboard.output,
        rules.plots.output,
