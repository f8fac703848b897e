"""make demo's terminal: Snakemake's logger plugin `landcover` (snakemake-logger-plugin-landcover/) on real runs.

Snakemake finds the plugin as it finds an installed one, as a package on sys.path: here PYTHONPATH, so that the
working copy runs even where .venv holds an older install.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "snakemake-logger-plugin-landcover"

# A model logging its result (as landcover_transfer's run_script does), a job without a message or result, and a job
# that fails after writing its log.
SNAKEFILE = """
rule all:
    input: "models/small/metrics.json", "plain/x.txt", "broken.txt"

rule model:
    output: "models/{size}/metrics.json"
    log: "logs/{size}.log"
    message: "Training the {wildcards.size} model"
    shell: "(echo 'INFO Result: early line'; echo 'INFO Result: model {wildcards.size}: accuracy 0.8125') > {log}; \\
        touch {output}"

rule plain:
    output: "plain/{name}.txt"
    shell: "touch {output}"

rule broken:
    output: "broken.txt"
    log: "logs/broken.log"
    shell: "echo 'the reason it broke' > {log}; exit 3"
"""


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGIN), os.environ.get("PYTHONPATH")]))}
    # --logger last: it takes several values, so a target after it would be read as one
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", *args, "--logger", "landcover"],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "Snakefile").write_text(SNAKEFILE)
    return workdir


@pytest.fixture(scope="module")
def terminal(workdir) -> list[str]:
    """The lines of a run that fails one job (make demo's profile: keep going, show a failed job's log)."""
    run = snakemake(workdir, "--keep-going", "--show-failed-logs")
    assert run.returncode != 0, run.stderr
    return run.stderr.splitlines()


def line_of(lines: list[str], pattern: str) -> int:
    (index,) = [i for i, line in enumerate(lines) if re.fullmatch(pattern, line)]
    return index


def test_each_job_shows_its_start_then_the_progress_with_its_result_read_from_its_log(terminal):
    progress = [match for line in terminal if (match := re.fullmatch(r"\[(\d+)/(\d+)\] (.*) \[\d+ s\]", line))]
    assert [(match[1], match[2]) for match in progress] == [("1", "4"), ("2", "4")]
    # the last result line of the job's log; a job without one is named and done
    assert sorted(match[3] for match in progress) == ["model small: accuracy 0.8125", "plain (name=x): done"]
    assert line_of(terminal, r"Job \d+: Training the small model") < line_of(terminal, r"\[\d/4\] model small.*")
    assert line_of(terminal, r"Job \d+: plain \(name=x\)") < line_of(terminal, r"\[\d/4\] plain .*")


def test_a_failed_job_shows_an_error_line_with_its_log(terminal):
    jobid = re.fullmatch(r"Job (\d+): broken", terminal[line_of(terminal, r"Job \d+: broken")])[1]
    error = line_of(terminal, rf"Error in job {jobid}: broken \[\d+ s\]")
    assert terminal[error + 1:error + 3] == ["    log: logs/broken.log", "    | the reason it broke"]
    assert not any(line.startswith("[") and "broken" in line for line in terminal)  # no progress for it


def test_snakemake_s_scheduling_lines_stay_out_of_the_terminal_but_not_out_of_its_log(workdir, terminal):
    shown = "\n".join(terminal)
    assert "Job stats:" in shown and "Exiting because a job execution failed" in shown
    assert shown.count("Select jobs to execute...") == 1  # a note before the first job; none during the run
    assert not re.search(r"Finished jobid|steps \(\d+%\) done|^\[\w{3} \w{3} ", shown, re.M)
    (log,) = (workdir / ".snakemake/log").glob("*.snakemake.log")
    full = log.read_text()
    assert full.count("Finished jobid") == 2 and full.count("Select jobs to execute...") > 1, full


def test_a_run_with_nothing_to_do_says_so(workdir, terminal):
    run = snakemake(workdir, "plain/x.txt")
    assert run.returncode == 0, run.stderr
    assert "Nothing to be done" in run.stderr


def test_with_quiet_rules_only_the_progress_is_shown(workdir, terminal):
    run = snakemake(workdir, "plain/y.txt", "plain/z.txt", "--quiet", "rules")
    assert run.returncode == 0, run.stderr
    assert [line for line in run.stderr.splitlines() if "Job" in line or line.startswith("[")] == [
        "Job stats:", "[1/2] done", "[2/2] done"], run.stderr


def test_make_demo_selects_this_plugin_by_its_name():
    (package,) = PLUGIN.glob("snakemake_logger_plugin_*/__init__.py")
    name = package.parent.name.removeprefix("snakemake_logger_plugin_").replace("_", "-")
    demo = re.search(r"^demo:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.M)[1]
    assert f"--logger {name}" in demo
