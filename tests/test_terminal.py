"""The compact terminal of `make demo`: two lines per job, everything unexpected passed through."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from landcover_transfer.terminal import compact

REPO = Path(__file__).resolve().parents[1]

# Snakemake 9's output around two jobs running side by side, then a failed one (its error block is indented too).
OUTPUT = """\
Job stats:
job         count
--------  -------
finetune        3
total           3

Select jobs to execute...
Execute 2 jobs...

[Mon Nov 30 04:10:13 2026]
Job 2: Fine-tuning a/s/none (seed 42)
[Mon Nov 30 04:10:13 2026]
Job 3: Fine-tuning a/s/standard (seed 42)
    finetune a/s/none/seed42: evaluation accuracy 0.6074, best epoch 3 of 3 [92 s]
[Mon Nov 30 04:11:45 2026]
Finished jobid: 2 (Rule: finetune)
1 of 3 steps (33%) done
    finetune a/s/standard/seed42: evaluation accuracy 0.6333, best epoch 1 of 3 [95 s]
[Mon Nov 30 04:11:48 2026]
Finished jobid: 3 (Rule: finetune)
2 of 3 steps (67%) done
Select jobs to execute...
Execute 1 jobs...

[Mon Nov 30 04:11:48 2026]
Job 1: Fine-tuning a/t/none (seed 42)
Error in rule finetune:
    message: Fine-tuning a/t/none (seed 42)
    jobid: 1
    log: logs/finetune/a/t/none/seed42.log (check log file(s) for error details)
Exiting because a job execution failed. Look below for error messages
"""


def test_compact_keeps_each_job_s_start_and_result_with_the_progress_and_passes_errors_through():
    assert list(compact(OUTPUT.splitlines(keepends=True))) == [
        "Job stats:", "job         count", "--------  -------", "finetune        3", "total           3",
        "Job 2: Fine-tuning a/s/none (seed 42)",
        "Job 3: Fine-tuning a/s/standard (seed 42)",
        "[1/3] finetune a/s/none/seed42: evaluation accuracy 0.6074, best epoch 3 of 3 [92 s]",
        "[2/3] finetune a/s/standard/seed42: evaluation accuracy 0.6333, best epoch 1 of 3 [95 s]",
        "Job 1: Fine-tuning a/t/none (seed 42)",
        "Error in rule finetune:",
        "    message: Fine-tuning a/t/none (seed 42)",
        "    jobid: 1",
        "    log: logs/finetune/a/t/none/seed42.log (check log file(s) for error details)",
        "Exiting because a job execution failed. Look below for error messages",
    ]


def test_a_step_without_result_line_and_a_result_without_step_are_both_shown():
    lines = ["Job 9: Everything", "    leaderboard: 3 models [1 s]", "5 of 6 steps (83%) done",
             "6 of 6 steps (100%) done", "    orphan result [2 s]"]
    assert list(compact(lines)) == ["Job 9: Everything", "[5/6] leaderboard: 3 models [1 s]", "[6/6] done",
                                    "orphan result [2 s]"]


def test_the_filter_reads_a_pipe_and_keeps_snakemake_s_exit_status_in_the_makefile(tmp_path):
    filtered = subprocess.run([sys.executable, "-m", "landcover_transfer.terminal"], input=OUTPUT, text=True,
                              capture_output=True, check=True, env={"PYTHONPATH": str(REPO / "src")})
    assert filtered.stdout.splitlines() == list(compact(OUTPUT.splitlines()))
    makefile = (REPO / "Makefile").read_text()
    assert "SHELL := /bin/bash" in makefile and "set -o pipefail;" in makefile  # a failed run fails `make demo`
