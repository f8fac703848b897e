"""The SLURM profile checked before the first job is submitted: the account and partitions a site must fill in."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Sequence

import yaml

ACCOUNT_PLACEHOLDER = "<YOUR_ACCOUNT>"


def slurm_profile_problems(default_resources: Sequence[str], partition_file: str | os.PathLike | None,
                           site_partitions: Sequence[str] | None) -> list[str]:
    """One line per setting of profiles/slurm left unedited: the account placeholder among the profile's
    `default-resources` ('name=value' strings), partitions of `partition_file` that the cluster does not list
    (`site_partitions`: None where that cannot be known)."""
    problems = []
    defaults = dict(resource.split("=", 1) for resource in default_resources if "=" in resource)
    if ACCOUNT_PLACEHOLDER in defaults.get("slurm_account", ""):
        problems.append(f"the SLURM profile's slurm_account is still {ACCOUNT_PLACEHOLDER}: set your account in "
                        "profiles/slurm/config.yaml (`sacctmgr -s show user $USER format=account` lists yours), or "
                        "delete that line if your site has no accounts")
    if partition_file is not None and site_partitions is not None:
        configured = list(yaml.safe_load(Path(partition_file).read_text())["partitions"])
        unknown = [name for name in configured if name not in site_partitions]
        if unknown:
            problems.append(f"{partition_file} names partitions this cluster does not have ({', '.join(unknown)}): "
                            f"use the names `sinfo` lists ({', '.join(site_partitions)}) where it says <-- EDIT")
    return problems


def site_partitions() -> list[str] | None:
    """The partitions `sinfo` lists (the default one without its '*'); None where sinfo is absent or fails."""
    try:
        listed = subprocess.run(["sinfo", "--noheader", "--format", "%P"], capture_output=True, text=True,
                                timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted({line.strip().rstrip("*") for line in listed.splitlines() if line.strip()})
