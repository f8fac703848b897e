"""What the study cost: the benchmark files Snakemake writes for every heavy job (wall time, CPU time, peak memory)
as one table per job and one per rule, with the GPU-hours the jobs held (GPUs requested x wall time)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

# Snakemake's benchmark columns kept, and their names here
BENCHMARK_COLUMNS = {"s": "wall_s", "cpu_time": "cpu_s", "max_rss": "max_rss_mb"}


def job_name(path: str | os.PathLike) -> str:
    """A benchmark file's job: its path under benchmarks/ without the .tsv suffix
    ("finetune/vgg16/last_block/none/seed42")."""
    parts = Path(path).with_suffix("").parts
    return "/".join(parts[parts.index("benchmarks") + 1:] if "benchmarks" in parts else parts)


def read_benchmark(path: str | os.PathLike) -> dict:
    """One job's wall time, CPU time and peak memory; the mean of its rows where the rule repeats the benchmark."""
    frame = pd.read_csv(path, sep="\t")
    missing = sorted(set(BENCHMARK_COLUMNS) - set(frame.columns))
    if missing:
        raise ValueError(f"{path}: not a Snakemake benchmark file (no column {', '.join(missing)})")
    values = frame[list(BENCHMARK_COLUMNS)].apply(pd.to_numeric, errors="coerce").mean()
    return {name: float(values[column]) for column, name in BENCHMARK_COLUMNS.items()}


def usage_per_job(files: Mapping[str, Sequence[str]], gpus: Mapping[str, int]) -> pd.DataFrame:
    """One row per benchmark file, by rule (`files`: rule -> its jobs' files; `gpus`: GPUs each rule's jobs
    request, 0 where absent): wall and CPU seconds, peak memory, CPU-hours and GPU-hours."""
    rows = [{"rule": rule, "job": job_name(path), **read_benchmark(path), "gpus": int(gpus.get(rule, 0))}
            for rule, paths in files.items() for path in paths]
    table = pd.DataFrame(rows, columns=["rule", "job", *BENCHMARK_COLUMNS.values(), "gpus"])
    table["cpu_hours"] = table["cpu_s"] / 3600
    table["gpu_hours"] = table["gpus"] * table["wall_s"] / 3600
    return table


def usage_per_rule(jobs: pd.DataFrame) -> pd.DataFrame:
    """The jobs of each rule summed (wall, CPU and GPU hours), their longest wall time and largest peak memory,
    costliest first, with a total row."""
    grouped = jobs.groupby("rule", sort=False)
    table = pd.DataFrame({
        "jobs": grouped.size(),
        "wall_hours": grouped["wall_s"].sum() / 3600,
        "longest_job_s": grouped["wall_s"].max(),
        "cpu_hours": grouped["cpu_hours"].sum(),
        "gpu_hours": grouped["gpu_hours"].sum(),
        "max_rss_mb": grouped["max_rss_mb"].max(),
    }).sort_values(["gpu_hours", "wall_hours"], ascending=False).reset_index()
    total = {"rule": "total", "jobs": table["jobs"].sum(), "wall_hours": table["wall_hours"].sum(),
             "longest_job_s": table["longest_job_s"].max(), "cpu_hours": table["cpu_hours"].sum(),
             "gpu_hours": table["gpu_hours"].sum(), "max_rss_mb": table["max_rss_mb"].max()}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)
