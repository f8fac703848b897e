"""A job's output goes to its log, and its result line reaches the terminal through the logger plugin
(landcover_transfer.workflow.jobs, snakemake-logger-plugin-landcover/).

TensorFlow writes start-up lines from C++ while it is imported (on CPUs with AVX-512 VNNI or AMX: the oneDNN
notice), before any setting is read: in a job (its script sends its output to the log first), and in the Snakemake
process itself when it probes the configuration. Here a script writes to file descriptor 2 as TensorFlow's import
does, so the tests do not depend on the machine's CPU.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from landcover_transfer.workflow.jobs import stderr_held_back

REPO = Path(__file__).resolve().parents[1]

SNAKEFILE = """
rule job:
    output: "done.txt"
    log: "logs/job.log"
    script: "job.py"
"""

SCRIPT = """
import os

from landcover_transfer.workflow.jobs import run_script, send_output_to_log

send_output_to_log(snakemake)  # as the scripts that import TensorFlow do first
os.write(2, b"start-up line written from C++\\n")


def main(snakemake):
    os.write(2, b"output of the job\\n")
    open(snakemake.output[0], "w").write("done")
    return "job: made done.txt"


run_script(snakemake, main)
"""


def test_output_written_on_import_goes_to_the_log_and_the_terminal_shows_the_result_line(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "job.py").write_text(SCRIPT)
    paths = [str(REPO / "src"), str(REPO / "snakemake-logger-plugin-landcover"), os.environ.get("PYTHONPATH", "")]
    run = subprocess.run([sys.executable, "-m", "snakemake", "-j1", "--logger", "landcover"], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)}, capture_output=True, text=True,
                         timeout=300)
    terminal = run.stdout + run.stderr
    assert run.returncode == 0, terminal
    assert re.search(r"^\[1/1\] job: made done.txt \[\d+ s\]$", terminal, re.M), terminal
    assert "start-up line" not in terminal and "output of the job" not in terminal, terminal
    log = (tmp_path / "logs/job.log").read_text()
    assert log.startswith("start-up line written from C++\noutput of the job\n"), log
    assert re.search(r"INFO Result: job: made done.txt$", log, re.M), log


def test_an_expected_error_is_one_line_on_the_terminal_and_in_the_log(tmp_path):
    """A bad input (DataError) ends the job with one line naming it, on the terminal even without the plugin."""
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "job.py").write_text(
        "from landcover_transfer.workflow.errors import DataError\n"
        "from landcover_transfer.workflow.jobs import run_script\n\n\n"
        "def main(snakemake):\n    raise DataError('data.h5: no key x_train; set data.keys')\n\n\n"
        "run_script(snakemake, main)\n")
    run = subprocess.run([sys.executable, "-m", "snakemake", "-j1"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "src")}, timeout=300)
    assert run.returncode != 0
    line = "Error in rule job: data.h5: no key x_train; set data.keys"
    assert (run.stdout + run.stderr).splitlines().count(line) == 1, run.stderr
    assert line in (tmp_path / "logs/job.log").read_text() and "Traceback" not in run.stderr


def test_stderr_held_back_hides_what_the_block_writes_below_python(capfd):
    with stderr_held_back():
        os.write(2, b"notice from C++\n")
    os.write(2, b"after the block\n")
    assert capfd.readouterr().err == "after the block\n"


def test_stderr_held_back_shows_what_it_held_when_the_block_raises(capfd):
    with pytest.raises(ValueError, match="probe failed"), stderr_held_back():
        os.write(2, b"what went wrong in C++\n")
        raise ValueError("probe failed")
    assert capfd.readouterr().err == "what went wrong in C++\n"
