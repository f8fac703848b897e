"""What produced a result: recorded in every metrics.json (`provenance` key) and shown on the report's first page.

A number is only as good as what is known about how it was made: the config entries the job got (its params),
the versions of the packages that compute it, the workflow's git commit and whether its tracked files had been
edited, and the machine. How long it took is the result's own `wall_time_s` (fine-tuning: the training's epochs
over all attempts) or `fit_time_s` (classical models), not the writing job's time: a finished training whose
outputs are rebuilt from its kept state then writes the same metrics.json byte for byte, so nothing downstream of
it runs again.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Mapping

import pandas as pd

# The workflow's own repository (src/landcover_transfer/workflow/ -> the root), wherever the job runs.
WORKFLOW_ROOT = Path(__file__).resolve().parents[3]

# Package -> distributions that provide it (the CPU builds pinned for laptops and CI, the GPU builds of envs/).
PACKAGES = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "keras": ("keras",),
    "scikit-learn": ("scikit-learn",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "snakemake": ("snakemake",),
    "numpy": ("numpy",),
}
_GIT_TIMEOUT_S = 20


def package_versions(packages: Mapping[str, tuple[str, ...]] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each of `packages` (None where this job's environment lacks it), and Python's."""
    versions = {"python": platform.python_version()}
    for package, distributions in packages.items():
        versions[package] = next((found for found in map(_version, distributions) if found), None)
    return versions


def git_state(root: str | Path = WORKFLOW_ROOT) -> dict[str, str | bool | None]:
    """The commit checked out at `root` and whether tracked files differ from it (untracked files, such as a
    user's override configs, do not count). Both None outside a git checkout or without git."""
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def device() -> dict[str, str | list[str] | None]:
    """Host, CPU model, and the GPUs TensorFlow sees: a list in a job that imported TensorFlow (empty: CPU only),
    None in a job that did not use it."""
    return {"host": platform.node(), "cpu": cpu_model(), "gpus": _tensorflow_gpus()}


def cpu_model() -> str | None:
    """The CPU's model name (/proc/cpuinfo on Linux, else what the platform module says)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def provenance(params: Mapping) -> dict:
    """The `provenance` entry of a metrics.json: the job's params (the config entries that defined the result),
    package versions, git state and device."""
    return {
        "config": json.loads(json.dumps(dict(params), default=str)),  # params hold config values: JSON-like
        "software": package_versions(),
        "git": git_state(),
        "device": device(),
    }


def provenance_table(metrics: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per result (keyed by its id) with its commit, dirty flag, device, package versions and wall time
    (training or fitting seconds, where the result records them); a result written before provenance was recorded
    has blank cells."""
    rows = []
    for result, record in metrics.items():
        facts = record.get("provenance") or {}
        git, software, machine = facts.get("git") or {}, facts.get("software") or {}, facts.get("device") or {}
        gpus = machine.get("gpus")
        rows.append({"Result": result, "Git Commit": git.get("commit"), "Dirty": git.get("dirty"),
                     "CPU": machine.get("cpu"), "GPU": ", ".join(gpus) if gpus else ("none" if gpus == [] else None),
                     "Host": machine.get("host"), **{package: software.get(package) for package in PACKAGES},
                     "Wall Time (s)": record.get("wall_time_s", record.get("fit_time_s"))})
    return pd.DataFrame(rows)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _git(root: str | Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                timeout=_GIT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):  # no git, or a hung filesystem: unknown, not a failed job
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _tensorflow_gpus() -> list[str] | None:
    if "tensorflow" not in sys.modules:  # importing it here would cost a job that does not use it seconds
        return None
    tf = sys.modules["tensorflow"]
    return [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]
