"""Glue between Snakemake's `script:` directive and the library: logging and clear errors."""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable

from .errors import LandcoverError

log = logging.getLogger("landcover_transfer")


def run_script(snakemake, main: Callable[[object], None]) -> None:
    """Run `main(snakemake)` with stdout/stderr (also TensorFlow's C++ output) going to the rule's log.

    An expected error (bad data, bad config) ends the job with one line naming the problem, written to
    the log and to the terminal; anything else keeps its traceback, since that is a bug to report.
    """
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
        main(snakemake)
    except LandcoverError as error:
        message = f"Error in rule {snakemake.rule}: {error}"
        log.error(message)
        print(message, file=terminal, flush=True)
        sys.exit(1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def load_configured_dataset(path, data_config: dict):
    """The dataset file read with the config's explicit keys and fallback class names."""
    from .data import load_dataset

    return load_dataset(path, keys=data_config.get("keys") or None, class_names=data_config.get("class_names"))
