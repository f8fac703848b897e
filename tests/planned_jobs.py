"""The jobs Snakemake plans for a config, as data: rule, wildcards, params, input and output files of each.

A finished study reruns a job whose params or inputs change, so a change to the workflow that is meant to change
nothing (a refactor, a faster planner) must leave this list as it was: tests/test_plan.py compares it with the
snapshots in tests/plans/. After an intended change, rewrite them and review the diff:

    PYTHONPATH=src .venv/bin/python -m tests.planned_jobs --write
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = REPO / "tests" / "plans"
# name -> config files (relative to the repository) and the files the plan needs in the working directory
CONFIGS = {
    "default": {"configfiles": [], "files": ["data/earth_data.h5"]},
    "eurosat": {"configfiles": ["config/eurosat.yaml"], "files": ["data/EuroSAT.zip"]},
    "demo": {"configfiles": ["config/demo.yaml"], "files": []},  # the predict stage's rules too
}


def _plain(value):
    """Params as JSON values: Snakemake's named lists become lists, tuples lists, paths strings."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return value.replace(str(REPO), "<repository>")  # the same snapshot from any clone
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _plain(str(value))


def planned_jobs(configfiles: list[Path], workdir: Path) -> list[dict]:
    """Every job of target `all` that a fresh working directory would run, sorted by rule and wildcards."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings, StorageSettings

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow_api = api.workflow(resource_settings=ResourceSettings(cores=1),
                                    config_settings=ConfigSettings(configfiles=[*configfiles]),
                                    storage_settings=StorageSettings(), snakefile=REPO / "Snakefile",
                                    workdir=workdir)
        dag_api = workflow_api.dag(dag_settings=DAGSettings())
        workflow = dag_api.workflow_api._workflow
        workflow._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        jobs = [{"rule": job.rule.name, "wildcards": dict(job.wildcards_dict),
                 "params": _plain(dict(job.params.items())),
                 "input": sorted(map(str, job.input)), "output": sorted(map(str, job.output))}
                for job in workflow.dag.needrun_jobs()]
    return sorted(jobs, key=lambda job: (job["rule"], json.dumps(job["wildcards"], sort_keys=True)))


def plan(name: str) -> list[dict]:
    """The planned jobs of one of CONFIGS, in a temporary working directory with the files it needs."""
    settings = CONFIGS[name]
    with tempfile.TemporaryDirectory() as workdir:
        for file in settings["files"]:
            (Path(workdir) / file).parent.mkdir(parents=True, exist_ok=True)
            (Path(workdir) / file).touch()
        return planned_jobs([REPO / path for path in settings["configfiles"]], Path(workdir))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite tests/plans/<config>.json")
    args = parser.parse_args()
    for name in CONFIGS:
        jobs = plan(name)
        path = SNAPSHOTS / f"{name}.json"
        if args.write:
            path.write_text(json.dumps(jobs, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {len(jobs)} jobs" + (f" -> {path.relative_to(REPO)}" if args.write else ""))


if __name__ == "__main__":
    main()
