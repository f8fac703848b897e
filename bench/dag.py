"""Scale of the DAG: how long Snakemake's dry run of the workflow takes, against a bare Snakefile of the same shape
(the same rules, wildcards and job counts, the same fan-in of the tables; trivial `shell:` rules), for the
configured grid and for generated grids of thousands of variants."""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

from bench.common import REPO, summary_row

TARGET_RATIO = 1.5  # issue 32: the dry run within 1.5x of the bare Snakefile's

# The bare workflow: the workflow's rules on synthetic data, each with its wildcards, its outputs' count and the
# inputs that fan in (every variant's files into the tables, ensembles and transfer matrix). Lists come from the
# config: A, S, G (grid), SEEDS, CLASSICAL, METHODS, ATTACKS, TRANSFER_ATTACK.
BARE_SNAKEFILE = '''
V = "results/finetune/{arch}/{strategy}/{aug}/seed{seed}"
FIRST = [f"results/finetune/{a}/{s}/{g}/seed{SEEDS[0]}" for a in A for s in S for g in G]
ALL = [f"results/finetune/{a}/{s}/{g}/seed{seed}" for a in A for s in S for g in G for seed in SEEDS]
TARGETS = ["finetune/" + folder.split("/", 2)[2].rsplit("/", 1)[0] for folder in FIRST] + ["ensemble"]
DATA, SPLITS, FEATURES = "results/data/synthetic.h5", "results/data/splits.npz", "results/features/features.npz"
CLASSICAL_METRICS = expand("results/classical/{model}/metrics.json", model=CLASSICAL)
ENSEMBLE_METRICS = expand("results/ensemble/{method}/metrics.json", method=METHODS)
PROBA = ([f"{f}/proba_evaluation.npy" for f in ALL] + expand("results/classical/{m}/proba_evaluation.npy", m=CLASSICAL)
         + expand("results/ensemble/{m}/proba_evaluation.npy", m=METHODS))
RESULTS = expand("results/robustness/{target}/{attack}/robust.json", target=TARGETS, attack=ATTACKS)
TABLES = [f"results/tables/{t}.csv" for t in ("classical", "finetune", "ensemble", "comparisons", "robustness",
                                              "leaderboard")]

wildcard_constraints:
    target="ensemble|finetune/[^/]+/[^/]+/[^/]+",

rule all:
    input:
        TABLES, "results/plots/accuracy.png", "results/plots/robustness", "results/config/effective_config.yaml",
        "results/config/provenance.csv", "results/tables/usage.csv"

rule effective_config:
    output:
        "results/config/effective_config.yaml", "results/config/effective_config.html"
    shell:
        "touch {output}"

rule synthetic_dataset:
    output:
        DATA
    shell:
        "touch {output}"

rule make_splits:
    input:
        DATA
    output:
        SPLITS
    shell:
        "touch {output}"

rule extract_features:
    input:
        DATA, SPLITS
    output:
        FEATURES
    shell:
        "touch {output}"

rule train_classical:
    input:
        FEATURES
    output:
        multiext("results/classical/{model}/", "metrics.json", "proba_selection.npy", "proba_evaluation.npy")
    shell:
        "touch {output}"

rule classical_table:
    input:
        CLASSICAL_METRICS, SPLITS
    output:
        "results/tables/classical.csv", "results/tables/classical.md", "results/tables/classical.html"
    shell:
        "touch {output}"

rule finetune:
    input:
        DATA, SPLITS
    output:
        multiext(V + "/", "model.keras", "history.csv", "metrics.json", "report.csv", "proba_selection.npy",
        "proba_evaluation.npy", "curves.png", "confusion.png")
    shell:
        "touch {output}"

def attacked(wildcards):
    if wildcards.target == "ensemble":
        return [f"{f}/{name}" for f in FIRST for name in ("model.keras", "metrics.json")]
    return f"results/{wildcards.target}/seed{SEEDS[0]}/model.keras"

rule attack:
    input:
        DATA, SPLITS, attacked
    output:
        expand("results/robustness/{{target}}/{attack}/{name}", attack=ATTACKS,
        name=("robust.json", "adversarial.npy", "examples.png"))
    shell:
        "touch {output}"

rule ensemble:
    input:
        SPLITS, [f"{f}/{name}" for f in FIRST for name in ("metrics.json", "proba_selection.npy",
        "proba_evaluation.npy")]
    output:
        multiext("results/ensemble/{method}/", "metrics.json", "report.csv", "proba_evaluation.npy",
        "confusion.png")
    shell:
        "touch {output}"

rule finetune_table:
    input:
        SPLITS, [f"{f}/{name}" for f in ALL for name in ("metrics.json", "proba_evaluation.npy")]
    output:
        "results/tables/finetune.csv", "results/tables/finetune.md", "results/tables/finetune.html"
    shell:
        "touch {output}"

rule ensemble_table:
    input:
        SPLITS, ENSEMBLE_METRICS
    output:
        "results/tables/ensemble.csv", "results/tables/ensemble.md", "results/tables/ensemble.html"
    shell:
        "touch {output}"

rule transfer_matrix:
    input:
        DATA, SPLITS, FEATURES, expand("results/robustness/{target}/{attack}/adversarial.npy", target=TARGETS,
        attack=TRANSFER_ATTACK),
        [f"{f}/{name}" for f in FIRST for name in ("model.keras", "metrics.json", "proba_selection.npy")]
    output:
        "results/robustness/transfer.csv"
    shell:
        "touch {output}"

rule robustness_table:
    input:
        RESULTS, "results/robustness/transfer.csv", [f"{f}/metrics.json" for f in FIRST]
    output:
        "results/tables/robustness.csv", "results/tables/robustness.md", "results/tables/transfer.csv"
    shell:
        "touch {output}"

rule robustness_plots:
    input:
        RESULTS, "results/robustness/transfer.csv", SPLITS
    output:
        directory("results/plots/robustness")
    shell:
        "mkdir -p {output}"

rule comparisons:
    input:
        CLASSICAL_METRICS, [f"{f}/metrics.json" for f in ALL], ENSEMBLE_METRICS, PROBA, SPLITS
    output:
        "results/tables/comparisons.csv", "results/tables/comparisons.md", "results/tables/comparisons.html"
    shell:
        "touch {output}"

rule leaderboard:
    input:
        CLASSICAL_METRICS, [f"{f}/metrics.json" for f in ALL], ENSEMBLE_METRICS, PROBA, SPLITS,
        "results/tables/robustness.csv"
    output:
        "results/tables/leaderboard.csv", "results/tables/leaderboard.md", "results/tables/leaderboard.html"
    shell:
        "touch {output}"

rule plots:
    input:
        [f"{f}/{name}" for f in ALL for name in ("metrics.json", "proba_evaluation.npy")],
        [f"{f}/history.csv" for f in FIRST], SPLITS, "results/tables/leaderboard.csv"
    output:
        "results/plots/accuracy.png"
    shell:
        "touch {output}"

rule usage:
    input:
        DATA, FEATURES, expand("results/classical/{m}/metrics.json", m=CLASSICAL), [f"{f}/metrics.json" for f in ALL],
        expand("results/robustness/{target}/{attack}/robust.json", target=TARGETS, attack=ATTACKS[-1:]),
        ENSEMBLE_METRICS, "results/robustness/transfer.csv"
    output:
        "results/tables/usage.csv", "results/plots/usage.png"
    shell:
        "touch {output}"

rule provenance:
    input:
        CLASSICAL_METRICS, [f"{f}/metrics.json" for f in ALL], ENSEMBLE_METRICS
    output:
        "results/config/provenance.csv"
    shell:
        "touch {output}"
'''


def bare_snakefile(config: dict) -> str:
    """BARE_SNAKEFILE with the lists of `config` (the merged workflow config) written in front."""
    grid, robustness = config["finetune"], config["robustness"]
    lists = {"A": grid["architectures"], "S": grid["strategies"], "G": grid["augmentations"],
             "SEEDS": grid.get("seeds") or [config["training"]["seed"]],
             "CLASSICAL": list(config["classical"]["models"]),
             "METHODS": config["ensemble"]["methods"], "ATTACKS": robustness["attacks"],
             "TRANSFER_ATTACK": robustness["transfer_attack"]}
    return "".join(f"{name} = {value!r}\n" for name, value in lists.items()) + BARE_SNAKEFILE


def generated_grid(config: dict, variants: int) -> dict:
    """An override with at least `variants` fine-tuning variants: copies of the grid's first architecture,
    strategy and augmentation under new names (the DAG's size is what counts, not what they train)."""
    side = max(1, round(variants ** (1 / 3)))
    n_augmentations = math.ceil(variants / side**2)
    grid = config["finetune"]

    def copies(section: str, first: str, n: int) -> dict:
        return {f"{first}_{index:03d}": config[section][first] for index in range(n)}

    architectures = copies("architectures", grid["architectures"][0], side)
    strategies = copies("strategies", grid["strategies"][0], side)
    augmentations = copies("augmentations", grid["augmentations"][0], n_augmentations)
    return {"architectures": architectures, "strategies": strategies, "augmentations": augmentations,
            "finetune": {"architectures": list(architectures), "strategies": list(strategies),
                         "augmentations": list(augmentations)},
            "ensemble": {"members": "best_per_architecture"}}  # a list of variant ids would name old ones


def dry_run(snakefile: Path, configfiles: list[str | Path] = ()) -> tuple[float, Counter]:
    """Seconds of `snakemake -n` (from process start: parsing, validation, DAG) and the planned jobs per rule."""
    with tempfile.TemporaryDirectory() as workdir:
        command = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", workdir, "-n", "--quiet", "rules"]
        if configfiles:
            command += ["--configfile", *map(str, configfiles)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"dry run of {snakefile} failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return seconds, job_stats(done.stdout + done.stderr)


def job_stats(output: str) -> Counter:
    """The first `Job stats` table of Snakemake's output: jobs per rule (and `total`)."""
    counts, lines = Counter(), iter(output.splitlines())
    for line in lines:
        if line.strip() == "Job stats:":
            break
    for line in lines:
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit():
            counts[fields[0]] = int(fields[1])
            if fields[0] == "total":
                break
    return counts


def _compare(label: str, config: dict, overrides: list[dict], configfiles: list[str | Path], workdir: Path) -> dict:
    """The workflow's and the bare Snakefile's dry runs of one grid, checked to plan the same jobs per rule."""
    files = [*map(str, configfiles)]
    for index, override in enumerate(overrides):
        path = workdir / f"{label.replace(' ', '_')}_{index}.yaml"
        path.write_text(yaml.safe_dump(override))
        files.append(str(path))
    bare = workdir / f"{label.replace(' ', '_')}.smk"
    merged = yaml.safe_load(yaml.safe_dump(config))
    from snakemake.utils import update_config

    for override in overrides:
        update_config(merged, override)
    bare.write_text(bare_snakefile(merged))
    seconds, jobs = dry_run(REPO / "Snakefile", files)
    bare_seconds, bare_jobs = dry_run(bare)
    if jobs != bare_jobs:
        raise RuntimeError(f"{label}: the bare Snakefile plans other jobs than the workflow: {dict(bare_jobs)} "
                           f"against {dict(jobs)}; update bench/dag.py's BARE_SNAKEFILE to the workflow's rules")
    grid = merged["finetune"]
    return {"grid": label, "variants": math.prod(len(grid[key]) for key in ("architectures", "strategies",
                                                                           "augmentations")),
            "jobs": jobs["total"], "seconds": seconds, "bare_seconds": bare_seconds, "ratio": seconds / bare_seconds}


def dag_scale(config: dict, configfiles: list[str | Path], variants: list[int]) -> tuple[list[dict], list[dict]]:
    """The workflow's dry-run seconds against the bare Snakefile's, for the configured grid and generated grids of
    each of `variants`, on synthetic data (a dry run of the study's data file needs the file)."""
    synthetic = {"data": {"source": "synthetic"}}
    with tempfile.TemporaryDirectory() as workdir:
        rows = [_compare("configured grid", config, [synthetic], configfiles, Path(workdir))]
        rows += [_compare(f"{n}-variant grid", config, [synthetic, generated_grid(config, n)], configfiles,
                          Path(workdir)) for n in variants]
    summary = [summary_row(f"dry run, {row['grid']}", "bare Snakefile", "snakemake -n", row["bare_seconds"],
                           row["seconds"], "seconds", f"<= {TARGET_RATIO:g}x bare", row["ratio"] <= TARGET_RATIO,
                           f"{row['variants']} variants, {row['jobs']} jobs", higher_is_better=False) for row in rows]
    return rows, summary
