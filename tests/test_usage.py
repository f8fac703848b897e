"""What the study cost (rule usage): the benchmark files as usage tables, and a finished study without them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from landcover_transfer.aggregate.usage import job_name, read_benchmark, usage_per_job, usage_per_rule
from tests.conftest import TINY_RUN_CONFIGS
from tests.test_workflow import job_counts

BENCHMARK_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _benchmark(path: Path, *rows: tuple[float, float, float]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCHMARK_HEADER + "".join(f"{s}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n"
                                               for s, rss, cpu in rows))
    return str(path)


def test_usage_tables_sum_each_rules_jobs_and_count_gpu_hours(tmp_path):
    bench = tmp_path / "benchmarks"
    files = {"finetune": [_benchmark(bench / "finetune/a/s/g/seed42.tsv", (3600.0, 2048.0, 7200.0)),
                          _benchmark(bench / "finetune/a/s/g/seed43.tsv", (1800.0, 4096.0, 3600.0))],
             "train_classical": [_benchmark(bench / "classical/svm.tsv", (60.0, 512.0, 30.0), (120.0, 512.0, 90.0))]}
    jobs = usage_per_job(files, {"finetune": 2, "train_classical": 0})
    assert list(jobs["job"]) == ["finetune/a/s/g/seed42", "finetune/a/s/g/seed43", "classical/svm"]
    assert list(jobs["gpu_hours"]) == pytest.approx([2.0, 1.0, 0.0])
    assert jobs.loc[2, "wall_s"] == pytest.approx(90.0) and jobs.loc[2, "cpu_hours"] == pytest.approx(60 / 3600)
    per_rule = usage_per_rule(jobs).set_index("rule")
    assert list(per_rule.index) == ["finetune", "train_classical", "total"]
    assert per_rule.loc["finetune", "jobs"] == 2 and per_rule.loc["finetune", "wall_hours"] == pytest.approx(1.5)
    assert per_rule.loc["finetune", "max_rss_mb"] == 4096 and per_rule.loc["finetune", "longest_job_s"] == 3600
    assert per_rule.loc["total", "gpu_hours"] == pytest.approx(3.0)
    assert per_rule.loc["total", "cpu_hours"] == pytest.approx(3.0 + 60 / 3600)


def test_a_file_that_is_no_benchmark_is_named(tmp_path):
    path = tmp_path / "b.tsv"
    path.write_text("seconds\n1\n")
    with pytest.raises(ValueError, match=r"b.tsv: not a Snakemake benchmark file \(no column cpu_time, max_rss, s\)"):
        read_benchmark(path)
    assert job_name("benchmarks/robustness/finetune/a/s/g.tsv") == "robustness/finetune/a/s/g"


@pytest.mark.slow
def test_tiny_run_usage_table_has_every_benchmark_file(tiny_run):
    files = sorted(p for p in (tiny_run / "benchmarks").rglob("*.tsv"))
    jobs = pd.read_csv(tiny_run / "results/tables/usage.csv")
    assert sorted(jobs["job"]) == sorted(job_name(p) for p in files)
    seconds = {job_name(p): read_benchmark(p)["wall_s"] for p in files}
    assert jobs["wall_s"].to_numpy() == pytest.approx([seconds[job] for job in jobs["job"]], abs=0.05)
    per_rule = pd.read_csv(tiny_run / "results/tables/usage_by_rule.csv").set_index("rule")
    assert per_rule.loc["total", "jobs"] == len(files) and per_rule.loc["finetune", "jobs"] > 1
    assert (tiny_run / "results/plots/usage.png").stat().st_size > 0


@pytest.mark.slow
def test_a_finished_training_without_benchmark_file_is_not_rerun(tiny_run, tmp_path):
    """A study finished before the workflow wrote benchmark files (or with benchmarks/ deleted): the usage table
    names what it lacks, and no training reruns for it."""
    work = tmp_path / "run"
    shutil.copytree(tiny_run, work, symlinks=True)
    missing = sorted((work / "benchmarks" / "finetune").rglob("seed*.tsv"))[0]
    missing.unlink()
    command = [sys.executable, "-m", "snakemake", "-s", str(Path(__file__).parents[1] / "Snakefile"), "-d", str(work),
               "-j1", "--configfile", *map(str, TINY_RUN_CONFIGS)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert job_counts(run.stdout + run.stderr) == {"usage": 1, "all": 1}, (run.stdout + run.stderr)[-3000:]
    jobs = pd.read_csv(work / "results/tables/usage.csv")
    assert job_name(missing) not in set(jobs["job"])
    assert job_name(missing) in (work / "results/tables/usage_by_rule.md").read_text()
