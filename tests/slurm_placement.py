"""Where the SLURM executor plugin would submit each job of a plan, without a cluster.

The plugin chooses a job's partition at submission (`Executor.get_partition_arg`: a `slurm_partition` resource
if the job has one, else the best fit among the partitions of `slurm-partition-config`), which a dry run does not
reach. `planned_placements` runs a dry run under a profile in a subprocess, and there hands every planned job,
with the resources Snakemake evaluated for it under that profile, to that plugin method: the partition in each
record is the plugin's own decision, not a re-implementation of it.

    planned_placements(["--profile", ..., "--configfile", ...], cwd=workdir) -> [
        {"rule": "finetune", "wildcards": {"arch": ...}, "gpu": 1, "partition": "gpu"}, ...]

`partition` is None where the plugin would pass no `-p`, and FALLBACK where no partition fits the job and the
plugin would fall back to the cluster's default partition (it would ask `sinfo`).
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

REPO = Path(__file__).resolve().parents[1]
FALLBACK = "<the cluster's default partition>"


def planned_placements(args, *, cwd, timeout: float = 600) -> list[dict]:
    """The placement of every job a dry run of `snakemake ARGS` (in `cwd`) plans; see the module doc."""
    out = Path(cwd) / "placements.json"
    command = [sys.executable, __file__, str(out), "--snakefile", str(REPO / "Snakefile"), *map(str, args)]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0 and out.is_file(), (result.stdout + result.stderr)[-6000:]
    return json.loads(out.read_text())


def partition_roles(profile_dir) -> tuple[str, str]:
    """The names of the CPU and of the GPU partition in a profile's `slurm-partition-config` file (the GPU one is
    the one with `max_gpu`)."""
    profile = yaml.safe_load((Path(profile_dir) / "config.yaml").read_text())
    partitions = yaml.safe_load((Path(profile_dir) / profile["slurm-partition-config"]).read_text())["partitions"]
    (cpu,) = [name for name, limits in partitions.items() if not limits.get("max_gpu")]
    (gpu,) = [name for name, limits in partitions.items() if limits.get("max_gpu")]
    return cpu, gpu


def _record_placements(out: Path, snakemake_args: list[str]) -> None:
    from snakemake.cli import main as snakemake
    from snakemake.cli import parse_args
    from snakemake.executors import dryrun
    from snakemake_executor_plugin_slurm import Executor as SlurmExecutor
    from snakemake_executor_plugin_slurm.partitions import read_partition_file
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    # the plugin's settings as the profile and command line give them (a dry run does not hand them to its executor)
    _, args = parse_args(snakemake_args)
    assert args.executor == "slurm", args.executor
    settings = ExecutorPluginRegistry().get_plugin("slurm").get_settings(args)
    plugin = SimpleNamespace(  # the state get_partition_arg reads of the plugin's executor
        _partitions=read_partition_file(settings.partition_config) if settings.partition_config else None,
        _fallback_partition=FALLBACK,
        logger=logging.getLogger("slurm"),
    )
    placements = []
    run_job = dryrun.Executor.run_job

    def run_and_place(executor, job):
        """What the dry run does with a job, and where the SLURM plugin would submit it."""
        partition_arg = shlex.split(SlurmExecutor.get_partition_arg(plugin, job))
        placements.append({
            "rule": job.rule.name,
            "wildcards": dict(job.wildcards_dict),
            "gpu": job.resources.get("gpu", 0),
            "partition": partition_arg[1] if partition_arg else None,
        })
        run_job(executor, job)

    dryrun.Executor.run_job = run_and_place
    try:
        snakemake([*snakemake_args, "--dry-run"])
    except SystemExit as done:
        if done.code:
            raise
    out.write_text(json.dumps(placements))


if __name__ == "__main__":
    _record_placements(Path(sys.argv[1]), sys.argv[2:])
