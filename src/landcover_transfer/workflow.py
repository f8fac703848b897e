"""Glue between Snakemake's `script:` directive and the library: logging and clear errors."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Callable

from .errors import LandcoverError

log = logging.getLogger("landcover_transfer")

# The running job's params (set by run_script): every result file it writes records them (`job_provenance`)
# without each script passing them along.
_JOB: dict = {}


def run_script(snakemake, main: Callable[[object], str | None]) -> None:
    """Run `main(snakemake)` with stdout/stderr (also TensorFlow's C++ output) going to the rule's log.

    `main` returns one line saying what the job produced (or None): it goes to the log and, with the
    job's time, to the terminal, which otherwise shows only Snakemake's progress. An expected error (bad
    data, bad config) ends the job with one line naming the problem, written to the log and to the
    terminal; anything else keeps its traceback, since that is a bug to report.
    """
    started = time.monotonic()
    _JOB.update(params=dict(snakemake.params.items()))
    log_path = snakemake.log[0] if len(snakemake.log) else None
    terminal = os.fdopen(os.dup(2), "w")
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
        force=True,
    )
    try:
        result = main(snakemake)
        if result:
            log.info(result)
            print(f"    {result} [{time.monotonic() - started:.0f} s]", file=terminal, flush=True)
    except LandcoverError as error:
        message = f"Error in rule {snakemake.rule}: {error}"
        log.error(message)
        print(message, file=terminal, flush=True)
        sys.exit(1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def job_provenance() -> dict | None:
    """The `provenance` of a result written by the running job (its params, software, git state, device); None
    outside a job started by `run_script`."""
    from .provenance import provenance

    if not _JOB:
        return None
    return provenance(_JOB["params"])


def load_configured_dataset(path, data_config: dict):
    """The dataset file read with the config's explicit keys and fallback class names."""
    from .data import load_dataset

    return load_dataset(path, keys=data_config.get("keys") or None, class_names=data_config.get("class_names"))


def data_note(config: dict) -> str:
    """What every title of a run on synthetic images says (plots, tables, report), else nothing."""
    return "synthetic demo data" if config["data"]["source"] == "synthetic" else ""


def phase_switches(strategy: dict, training: dict) -> list[int]:
    """0-based first epochs of a strategy's phases after the first (where the learning curves change course)."""
    from .training import phase_plan  # imports TensorFlow: only for the jobs that plot learning curves

    return [phase["start"] for phase in phase_plan(strategy["phases"], training["epochs"])[1:]]
