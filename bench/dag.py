"""Scale of the DAG: how long Snakemake's dry run takes for the default grid and for a large generated grid."""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import REPO, summary_row

TARGET_SECONDS = 10.0


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


def dry_run(overrides: list[dict], configfiles: list[str | Path] = ()) -> tuple[float, int]:
    """Seconds of `snakemake -n` (from process start: parsing, validation, DAG) and the number of jobs planned."""
    with tempfile.TemporaryDirectory() as workdir:
        files = [str(path) for path in configfiles]
        for index, override in enumerate(overrides):
            path = Path(workdir) / f"override{index}.yaml"
            path.write_text(yaml.safe_dump(override))
            files.append(str(path))
        command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", workdir, "-n",
                   "--quiet", "rules", "--configfile", *files]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"dry run failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return seconds, planned_jobs(done.stdout + done.stderr)


def planned_jobs(output: str) -> int:
    """The `total` line of Snakemake's job statistics."""
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "total" and fields[1].isdigit():
            return int(fields[1])
    return 0


def dag_scale(config: dict, configfiles: list[str | Path], variants: int) -> tuple[list[dict], list[dict]]:
    """Dry-run seconds of the configured grid and of a generated grid of `variants`, on synthetic data (a dry run of
    the study's data file needs the file)."""
    synthetic = {"data": {"source": "synthetic"}}
    large = generated_grid(config, variants)
    rows = []
    for label, overrides in (("configured grid", [synthetic]), (f"{variants}-variant grid", [synthetic, large])):
        seconds, jobs = dry_run(overrides, configfiles)
        grid = overrides[-1]["finetune"] if len(overrides) > 1 else config["finetune"]
        n_variants = math.prod(len(grid[key]) for key in ("architectures", "strategies", "augmentations"))
        rows.append({"grid": label, "variants": n_variants, "jobs": jobs, "seconds": seconds})
    summary = [summary_row(f"dry run, {row['grid']}", "", "snakemake -n", None, row["seconds"], "seconds",
                           f"< {TARGET_SECONDS:g} s", row["seconds"] < TARGET_SECONDS,
                           f"{row['variants']} variants, {row['jobs']} jobs", higher_is_better=False) for row in rows]
    return rows, summary
