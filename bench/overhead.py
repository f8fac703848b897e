"""Where a run spends time that does no training: one demo job's stages in a fresh process, and a finished demo's
jobs (its benchmarks/, logs/ and results/) split into training epochs, graph tracing and everything else."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import REPO, summary_row

TRAINING_STAGE = "training (remaining steps, selection evaluation per epoch)"
KERAS_EPOCH_LINE = re.compile(r"^\s*\d+/\d+ - (\d+)s - ")  # Keras verbose=2: "16/16 - 51s - 3s/step - ..."
SNAKEMAKE_LOG_NAME = "%Y-%m-%dT%H%M%S.%f"


# ---------------------------------------------------------------- one job, in a fresh process

def job_stages(config: dict, variant: str, threads: int | None) -> dict:
    """Seconds of each stage of one fine-tuning job run the way a Snakemake job runs it: a new Python process."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as merged:
        json.dump(config, merged)
        merged.flush()
        # the repository root for `bench`, src/ for the library: the child may start in any directory
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), str(REPO / "src"),
                                                                          os.environ.get("PYTHONPATH")])),
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        launched = time.time()
        done = subprocess.run([sys.executable, "-m", "bench.job_stages", "--launched",
                               repr(launched), "--config", merged.name, "--variant", variant,
                               "--threads", str(threads or os.cpu_count())],
                              capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"timing the job {variant} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def job_overhead(config: dict, variant: str, threads: int | None) -> tuple[list[dict], list[dict]]:
    result = job_stages(config, variant, threads)
    total = sum(result["seconds"].values())
    rows = [{"variant": variant, "fit_images": result["fit_images"], "epochs": result["epochs"], "stage": stage,
             "seconds": seconds, "share": seconds / total} for stage, seconds in result["seconds"].items()]
    training = result["seconds"][TRAINING_STAGE]
    slowest = max((row for row in rows if row["stage"] != TRAINING_STAGE), key=lambda row: row["seconds"])
    summary = [summary_row(f"one job's time outside training, {variant}", "training", "job start to first step",
                           training, total - training - rows[-1]["seconds"], "seconds", higher_is_better=False,
                           note=f"slowest step besides training: {slowest['stage']}, {slowest['seconds']:.1f} s "
                                f"({slowest['share']:.0%} of the job's {total:.1f} s)")]
    return rows, summary


# ---------------------------------------------------------------- a finished demo

def step_of(benchmark: Path) -> str:
    """The step a benchmark file times, from its path under benchmarks/."""
    folder, name = benchmark.parts[0], benchmark.stem
    if folder == "classical":
        return "feature extraction" if name == "extract_features" else "classical models"
    if folder == "robustness":
        return "transfer matrix" if name == "transfer_matrix" else "attacks"
    return {"finetune": "fine-tuning", "pretrain": "stand-in pre-training", "ensemble": "ensembles",
            "data": "data"}.get(folder, folder)


def epoch_seconds(log: Path, history: Path | None = None) -> list[float]:
    """Seconds of each training epoch: the history's `seconds` column, else Keras's per-epoch log lines."""
    if history is not None and history.is_file():
        frame = pd.read_csv(history)
        if "seconds" in frame:
            return [float(value) for value in frame["seconds"]]
    if not log.is_file():
        return []
    return [float(match.group(1)) for line in log.read_text(errors="replace").splitlines()
            if (match := KERAS_EPOCH_LINE.match(line))]


def split_job(seconds: float, epochs: list[float]) -> dict[str, float]:
    """A training job's seconds as steady training, the first epoch's tracing excess, and everything else."""
    tracing = max(0.0, epochs[0] - float(np.median(epochs[1:]))) if len(epochs) > 1 else 0.0
    training = sum(epochs) - tracing
    return {"training": training, "tracing": tracing, "other": max(0.0, seconds - training - tracing)}


def demo_jobs(demo: Path) -> list[dict]:
    """Every job with a benchmark file, its seconds split into training, tracing and the rest."""
    rows = []
    for path in sorted((demo / "benchmarks").rglob("*.tsv")):
        relative = path.relative_to(demo / "benchmarks")
        seconds = float(pd.read_csv(path, sep="\t")["s"].iloc[-1])
        step, job = step_of(relative), str(relative.with_suffix(""))
        parts = {"training": 0.0, "tracing": 0.0, "other": seconds}
        if step in ("fine-tuning", "stand-in pre-training"):
            variant = relative.relative_to(relative.parts[0]).with_suffix("")
            history = demo / "results" / "finetune" / variant / "history.csv" if step == "fine-tuning" else None
            parts = split_job(seconds, epoch_seconds(demo / "logs" / relative.parts[0] / f"{variant}.log", history))
        rows.append({"step": step, "job": job, "seconds": seconds, **parts})
    return rows


def step_totals(jobs: list[dict]) -> pd.DataFrame:
    """Seconds per step, training and tracing apart from the rest of their jobs, with each one's share."""
    frame = pd.DataFrame(jobs)
    parts = []
    for step, group in frame.groupby("step", sort=False):
        trains = group["training"].sum() > 0
        parts.append({"step": f"{step}: training epochs" if trains else step, "training": trains,
                      "jobs": len(group), "seconds": group["training"].sum() if trains else group["other"].sum()})
        if trains:
            parts.append({"step": f"{step}: first-epoch graph tracing", "training": False, "jobs": len(group),
                          "seconds": group["tracing"].sum()})
            parts.append({"step": f"{step}: job start, data, model build, evaluation, outputs", "training": False,
                          "jobs": len(group), "seconds": group["other"].sum()})
    totals = pd.DataFrame(parts)
    totals["share"] = totals["seconds"] / totals["seconds"].sum()
    return totals.sort_values("seconds", ascending=False, ignore_index=True)


def end_to_end_seconds(demo: Path) -> tuple[float | None, str]:
    """Wall time of the longest Snakemake run in the demo's .snakemake/log (its name is its start, its last write
    its end), and which run that was: the log's name and how many of its steps were done."""
    runs = []
    for log in (demo / ".snakemake" / "log").glob("*.snakemake.log"):
        try:
            started = datetime.strptime(log.name.removesuffix(".snakemake.log"), SNAKEMAKE_LOG_NAME)
        except ValueError:
            continue
        done = re.findall(r"^(\d+ of \d+ steps \(\d+%\) done)", log.read_text(errors="replace"), re.M)
        runs.append((log.stat().st_mtime - started.timestamp(), f"{log.name}, {done[-1] if done else 'no step done'}"))
    return max(runs) if runs else (None, "")


def demo_breakdown(demo: str | Path, wall_seconds: float | None = None) -> tuple[list[dict], list[dict]]:
    """Per step of a finished demo: seconds, share of all jobs' seconds; the slowest step that does no training."""
    demo = Path(demo)
    totals = step_totals(demo_jobs(demo))
    measured, log_name = end_to_end_seconds(demo)
    wall = wall_seconds or measured
    source = "as given (--demo-wall-seconds)" if wall_seconds else f"Snakemake log {log_name}"
    slowest = totals[~totals["training"]].iloc[0]
    trained = totals.loc[totals["training"], "seconds"].sum()
    rows = [{"demo": str(demo), **row} for row in totals.to_dict("records")]
    summary = [
        summary_row("demo: job seconds outside training", "training epochs", "everything else", trained,
                    totals["seconds"].sum() - trained, "seconds (summed over jobs)", higher_is_better=False,
                    note=f"slowest non-training step: {slowest['step']}, {slowest['seconds']:.0f} s in "
                         f"{slowest['jobs']} jobs ({slowest['share']:.0%} of all job seconds)"),
        summary_row("demo end to end", "", "make demo", None, wall, "seconds",
                    note=f"{demo}, {source}; jobs' seconds summed: {totals['seconds'].sum():.0f}"),
    ]
    return rows, summary
