"""Glue between Snakemake's `script:` directive and the library: logging and clear errors."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Callable, TextIO

from landcover_transfer.workflow.errors import LandcoverError

log = logging.getLogger("landcover_transfer")

#: Before the result line a job writes to its log; the logger plugin snakemake_logger_plugin_landcover reads it there.
RESULT_MARKER = "Result: "

# The running job's params (set by run_script): every result file it writes records them (`job_provenance`)
# without each script passing them along.
_JOB: dict = {}


def run_script(snakemake, main: Callable[[object], str | None]) -> None:
    """Run `main(snakemake)` with stdout/stderr (also TensorFlow's C++ output) going to the rule's log.

    `main` returns one line saying what the job produced (or None): it goes to the log after the marker
    `Result: `, where the terminal's logger plugin (`--logger landcover`) reads it when the job ends. An expected
    error (bad data, bad config) ends the job with one line naming the problem, in the log and on the terminal
    (with or without the plugin); anything else keeps its traceback, since that is a bug to report.
    """
    _JOB.update(params=dict(snakemake.params.items()))
    terminal = send_output_to_log(snakemake)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
        force=True,
    )
    try:
        result = main(snakemake)
        if result:
            log.info("%s%s", RESULT_MARKER, result)
    except LandcoverError as error:
        message = f"Error in rule {snakemake.rule}: {error}"
        log.error(message)
        print(message, file=terminal, flush=True)
        sys.exit(1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


# The terminal's stream once this process's output goes to its job's log (set once per process).
_TERMINAL: list[TextIO] = []


def send_output_to_log(snakemake) -> TextIO:
    """Send this process's file descriptors 1 and 2 to the job's log (its first `log:` file), so that output
    written below Python (TensorFlow's C++ logging) lands there too; returns a stream to the terminal.

    A script that imports TensorFlow calls it first, before that import writes its C++ start-up lines; `run_script`
    calls it again, which then returns the same stream, neither truncating the log nor opening it twice. A rule
    without a log keeps its output.
    """
    if _TERMINAL:
        return _TERMINAL[0]
    _TERMINAL.append(os.fdopen(os.dup(2), "w"))
    log_path = snakemake.log[0] if len(snakemake.log) else None
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
    return _TERMINAL[0]


@contextmanager
def stderr_held_back():
    """Hold back what the block writes to file descriptor 2, from Python or C++: shown only if the block raises.

    For TensorFlow's import in the Snakemake process itself (the configuration probe before the first job): its
    start-up notices from C++ (oneDNN, CPU features on CPUs with AVX-512 VNNI or AMX) come before any setting
    (TF_CPP_MIN_LOG_LEVEL) is read, and the terminal shows one line per job.
    """
    sys.stderr.flush()
    terminal = os.dup(2)
    held = tempfile.TemporaryFile()
    os.dup2(held.fileno(), 2)
    failed = True
    try:
        yield
        failed = False
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        os.close(terminal)
        if failed:
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
        held.close()


def job_provenance() -> dict | None:
    """The `provenance` of a result written by the running job (its params, software, git state, device); None
    outside a job started by `run_script`."""
    from landcover_transfer.workflow.provenance import provenance

    if not _JOB:
        return None
    return provenance(_JOB["params"])


def data_note(config: dict) -> str:
    """What every title of a run on synthetic images says (plots, tables, report), else nothing."""
    return "synthetic demo data" if config["data"]["source"] == "synthetic" else ""
