"""The SLURM and local profiles, exercised on a toy workflow.

* `test_profiles_are_well_formed`, `test_local_profile_serialises_gpu_jobs`,
  `test_unavailable_cluster_skips_except_on_ci_as_root`, `test_parsers_of_slurm_and_snakemake_output`:
  no cluster needed.
* `test_gpu_request_decides_the_partition`, `test_a_list_of_gpu_rules_misses_finetune_tta`: no cluster
  needed either. Every job that the shipped configs plan goes through the SLURM plugin's own partition
  selection under profiles/slurm (tests/slurm_placement.py): a job that requests a GPU (the config's
  `resources`) must get the GPU partition, every other job the CPU partition; the profile of before, which
  listed the GPU rules by name, is shown to fail that check.
* `test_slurm_profile_end_to_end` (marker `slurm`): brings up a single-node SLURM cluster with two
  fake GPUs (tests/slurm_cluster.py), runs a toy workflow through profiles/slurm with only the
  site placeholders filled in (as a user edits them once) and the two settings a cluster without
  slurmdbd needs given on the command line, and checks that
    - the GPU rules' jobs asked for a GPU on the gpu partition and got CUDA_VISIBLE_DEVICES,
      the CPU rule's job did not and ran on the cpu partition with the default resources;
    - a failing job is retried with attempt-scaled memory (the rule's `16000 * attempt`);
    - with keep-going its siblings still complete;
    - after the cause is removed, a rerun submits only the failed job.
  Skips where the cluster cannot run (not root, no apt-get); fails instead on CI (CI=true) as root.

Run: `.venv/bin/pytest -q -m slurm tests/test_slurm_profile.py`
"""

from __future__ import annotations

import os
import re
import time
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from landcover_transfer.workflow.cluster import slurm_profile_problems

import slurm_cluster as cluster_module
from slurm_cluster import (  # noqa: F401  (slurm_cluster is a fixture)
    LocalSlurmCluster,
    parse_job_stats,
    render_profile,
    run_snakemake,
    slurm_cluster,
)
from slurm_placement import FALLBACK, partition_roles, planned_placements

REPO = Path(__file__).resolve().parents[1]
SLURM_PROFILE = REPO / "profiles" / "slurm"
LOCAL_PROFILE = REPO / "profiles" / "local"
ACCOUNT = "lcttest"  # Slurm lower-cases account names

TOY_SNAKEFILE = r'''
# Toy workflow: the GPU rules request their GPU themselves (the real ones: from the config's `resources`).
localrules: all

REPORT = ('echo "rule={rule} partition=${{SLURM_JOB_PARTITION:-none}} cuda=${{CUDA_VISIBLE_DEVICES:-none}} '
          'job=${{SLURM_JOB_ID:-none}}" > {output}')

rule all:
    input:
        "results/prepare.txt",
        "results/finetune.txt",
        "results/extract_features.txt",

# a CPU rule: default-resources only
rule prepare:
    output: "results/prepare.txt"
    shell: REPORT

# a GPU rule
rule finetune:
    input: "results/prepare.txt"
    output: "results/finetune.txt"
    threads: 8
    resources: gpu=1, mem_mb=lambda wildcards, attempt: 32000 * attempt
    shell: REPORT

# a GPU rule that fails while the flag file exists
rule extract_features:
    output: "results/extract_features.txt"
    threads: 8
    resources: gpu=1, mem_mb=lambda wildcards, attempt: 16000 * attempt
    shell:
        "if [ -e fail.flag ]; then echo 'failing on purpose (fail.flag)' >&2; exit 1; fi; " + REPORT
'''


def _read_report(path: Path) -> dict:
    return dict(item.split("=", 1) for item in path.read_text().split())


# ------------------------------------------------------------------ no cluster needed
def test_profiles_are_well_formed():
    slurm = yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())
    assert slurm["executor"] == "slurm"
    for key in ("jobs", "latency-wait", "retries", "rerun-incomplete", "keep-going", "printshellcmds"):
        assert key in slurm, key
    defaults = slurm["default-resources"]
    assert {"slurm_account", "mem_mb", "runtime"} <= set(defaults)
    assert "attempt" in str(defaults["mem_mb"])
    # placement is the plugin's choice among the partitions of this file (one for CPU jobs, one with GPUs), from
    # each job's GPU request: a partition or GPU count given here by rule would override or bypass the config
    assert (SLURM_PROFILE / slurm["slurm-partition-config"]).is_file()
    assert len(set(partition_roles(SLURM_PROFILE))) == 2
    assert "slurm_partition" not in defaults and "gpu" not in defaults
    assert not any({"slurm_partition", "gpu"} & set(entry) for entry in (slurm.get("set-resources") or {}).values())

    local = yaml.safe_load((LOCAL_PROFILE / "config.yaml").read_text())
    assert "executor" not in local
    assert "gpu=1" in local["resources"]
    assert local["keep-going"] and local["rerun-incomplete"]


def test_local_profile_serialises_gpu_jobs(tmp_path):
    """profiles/local: `resources: gpu=1` keeps two gpu=1 jobs from running at the same time."""
    (tmp_path / "Snakefile").write_text(
        "rule all:\n"
        "    input: expand('t/{i}.txt', i=range(3))\n"
        "rule train:\n"
        "    output: 't/{i}.txt'\n"
        "    resources: gpu=1\n"
        "    shell: 'date +%s.%N > {output}; sleep 1; date +%s.%N >> {output}'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE_")}
    result = run_snakemake(["--profile", str(LOCAL_PROFILE)], cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stdout
    spans = sorted(tuple(map(float, (tmp_path / f"t/{i}.txt").read_text().split())) for i in range(3))
    for (_, end), (start, _) in pairwise(spans):
        assert start >= end, f"gpu=1 jobs overlapped: {spans}"


@pytest.mark.parametrize(
    "euid, ci, outcome",
    [(1000, "true", "skip"), (1000, "", "skip"), (0, "", "skip"), (0, "true", "fail")],
)
def test_unavailable_cluster_skips_except_on_ci_as_root(monkeypatch, euid, ci, outcome):
    monkeypatch.setattr(cluster_module.os, "geteuid", lambda: euid)
    monkeypatch.setenv("CI", ci)
    if euid != 0:
        ok, reason = LocalSlurmCluster.available()
        assert not ok and "root" in reason
    expected = pytest.skip.Exception if outcome == "skip" else pytest.fail.Exception
    with pytest.raises(expected, match="unavailable"):
        cluster_module.skip_or_fail("no apt-get")


def test_parsers_of_slurm_and_snakemake_output():
    line = (
        "JobId=7 JobName=3f2a Account=lcttest JobState=FAILED ExitCode=1:0 TimeLimit=01:00:00 "
        "Partition=gpu AllocNode:Sid=localhost:1 NumCPUs=8 TRES=cpu=8,mem=16000M,node=1 "
        "JOB_GRES=gpu:1   Nodes=vm CPU_IDs=0-7 Mem=16000 GRES= MinMemoryNode=16000M "
        "Comment=rule_finetune_wildcards_vgg16_last_block_none CpusPerTres=gres:gpu:8 "
        "TresPerJob=gres:gpu:1"
    )
    record = cluster_module.JobRecord.from_fields(cluster_module.parse_scontrol_oneliner(line))
    assert (record.rule, record.partition, record.account, record.state) == ("finetune", "gpu", "lcttest", "FAILED")
    assert (record.requested_gpus, record.allocated_gpus, record.cpus, record.mem_mb) == (1, 1, 8, 16000)
    output = ("Building DAG of jobs...\nJob stats:\njob      count\n-----  -------\n"
              "all          1\nb            2\ntotal        3\n")
    assert parse_job_stats(output) == {"all": 1, "b": 2}


# ------------------------------------------------------------------ partitions of the planned jobs
# The shipped plans and the rules that request a GPU in each (the config's `resources.<kind>.gpu`): the study's,
# the EuroSAT recipe (with test-time augmentation: finetune_tta), the demo (none: it is sized for a laptop's CPU).
PLANS = {
    "config.yaml": ([], {"finetune", "attack", "extract_features"}),
    "eurosat.yaml": ([REPO / "config" / "eurosat.yaml"], {"finetune", "finetune_tta", "attack", "extract_features"}),
    "demo.yaml": ([REPO / "config" / "demo.yaml"], set()),
}


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory) -> Path:
    """A working directory where every shipped config plans: the study's data file and the EuroSAT archive
    (empty: a dry run reads neither)."""
    workdir = tmp_path_factory.mktemp("plans")
    (workdir / "data").mkdir()
    (workdir / "data" / "earth_data.h5").write_bytes(b"")
    (workdir / "data" / "EuroSAT.zip").write_bytes(b"")
    return workdir


def _placements(profile: Path, configfiles, workdir: Path) -> list[dict]:
    return planned_placements(["--profile", profile, *(["--configfile", *configfiles] if configfiles else [])],
                              cwd=workdir)


def _misplaced(placements, cpu: str, gpu: str) -> list[tuple]:
    """Jobs not on the GPU partition though they request a GPU, or not on the CPU partition though they do not."""
    return [(p["rule"], p["wildcards"], p["gpu"], p["partition"]) for p in placements
            if p["partition"] != (gpu if p["gpu"] else cpu)]


@pytest.mark.parametrize("plan", PLANS)
def test_gpu_request_decides_the_partition(plan, plan_dir, tmp_path):
    configfiles, gpu_rules = PLANS[plan]
    # conda is not installed here (and a dry run builds no environment)
    profile = render_profile(SLURM_PROFILE, tmp_path / "profile", options={"software-deployment-method": None})
    placements = _placements(profile, configfiles, plan_dir)
    cpu, gpu = partition_roles(SLURM_PROFILE)
    assert not _misplaced(placements, cpu, gpu)
    assert FALLBACK not in {p["partition"] for p in placements}
    assert {p["rule"] for p in placements if p["gpu"]} == gpu_rules
    assert {p["partition"] for p in placements} == ({cpu, gpu} if gpu_rules else {cpu})


def test_a_list_of_gpu_rules_misses_finetune_tta(plan_dir, tmp_path):
    """The check above on the profile of before, which named the GPU rules: finetune_tta, which requests a GPU
    but was not named, is caught on the CPU partition."""
    cpu, gpu = partition_roles(SLURM_PROFILE)
    listed = ("finetune", "attack", "pretrain_base", "extract_features")
    profile = render_profile(
        SLURM_PROFILE,
        tmp_path / "profile",
        default_resources={"slurm_partition": cpu},
        set_resources={rule: {"slurm_partition": gpu} for rule in listed},
        options={"software-deployment-method": None, "slurm-partition-config": None},
    )
    configfiles, _ = PLANS["eurosat.yaml"]
    misplaced = _misplaced(_placements(profile, configfiles, plan_dir), cpu, gpu)
    assert {(rule, requested, partition) for rule, _, requested, partition in misplaced} == {
        ("finetune_tta", 1, cpu)}, misplaced


# ------------------------------------------------------------------ on a SLURM cluster
@pytest.mark.slurm
def test_slurm_profile_end_to_end(slurm_cluster, tmp_path):
    cluster = slurm_cluster
    print(f"\ncluster bring-up: {cluster.timings}")
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(TOY_SNAKEFILE)
    (workdir / "fail.flag").write_text("")

    # The user's one-time edit of the placeholders, plus dropping conda (not installed here;
    # the toy has no conda envs). Everything else is profiles/slurm unchanged.
    cpu, gpu = partition_roles(SLURM_PROFILE)
    profile = render_profile(
        SLURM_PROFILE,
        tmp_path / "profile",
        default_resources={"slurm_account": ACCOUNT},
        partitions={cpu: cluster.cpu_partition, gpu: cluster.gpu_partition},
        options={"software-deployment-method": None},
    )
    assert partition_roles(profile) == (cluster.cpu_partition, cluster.gpu_partition)

    env = cluster.env({k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"})
    args = ["--profile", str(profile), *cluster.snakemake_cli_args()]
    before = {r.job_id for r in cluster.job_records()}

    # ---- run 1: extract_features fails on every attempt, the others complete (keep-going)
    t0 = time.monotonic()
    first = run_snakemake(args, cwd=workdir, env=env, timeout=420)
    first_s = time.monotonic() - t0
    print(f"run 1 (with failures, 3 attempts): {first_s:.1f} s")
    assert first.returncode != 0, first.stdout
    assert (workdir / "results/prepare.txt").exists(), first.stdout
    assert (workdir / "results/finetune.txt").exists(), first.stdout
    assert not (workdir / "results/extract_features.txt").exists()

    records = [r for r in cluster.job_records() if r.job_id not in before]
    by_rule = cluster.jobs_by_rule(records)
    assert set(by_rule) == {"prepare", "finetune", "extract_features"}, records
    assert all(r.account == ACCOUNT for r in records), records

    # CPU rule: cpu partition, no GPU, default resources of the profile (attempt 1)
    (prepare,) = by_rule["prepare"]
    assert prepare.partition == cluster.cpu_partition
    assert prepare.requested_gpus == 0 and prepare.allocated_gpus == 0
    assert prepare.mem_mb == 4000 and prepare.state == "COMPLETED"
    report = _read_report(workdir / "results/prepare.txt")
    assert report["partition"] == cluster.cpu_partition and report["cuda"] == "none", report

    # GPU rule: the gpu partition, the plugin's choice for its GPU request; --gpus=1, --cpus-per-task=8 (threads)
    # and memory from the rule; a device assigned
    (finetune,) = by_rule["finetune"]
    assert finetune.partition == cluster.gpu_partition
    assert finetune.requested_gpus == 1 and finetune.allocated_gpus == 1, finetune.fields
    assert finetune.cpus == 8 and not finetune.fields.get("CpusPerTres"), finetune.fields
    assert finetune.mem_mb == 32000 and finetune.state == "COMPLETED"
    report = _read_report(workdir / "results/finetune.txt")
    assert report["partition"] == cluster.gpu_partition, report
    assert re.fullmatch(r"\d+", report["cuda"]), report
    assert report["job"] == finetune.job_id

    # the failing GPU rule: 1 + retries(2) submissions, memory scaled by attempt, all on a GPU
    failed = by_rule["extract_features"]
    assert [r.mem_mb for r in failed] == [16000, 32000, 48000], failed
    assert all(r.state == "FAILED" and r.requested_gpus == 1 for r in failed), failed
    assert all(r.partition == cluster.gpu_partition for r in failed)

    # ---- the cause is fixed: a dry run plans only the failed job
    (workdir / "fail.flag").unlink()
    plan = run_snakemake([*args, "--dry-run"], cwd=workdir, env=env, timeout=120)
    assert plan.returncode == 0, plan.stdout
    assert parse_job_stats(plan.stdout) == {"all": 1, "extract_features": 1}, plan.stdout

    # ---- run 2: only extract_features is submitted, at attempt 1 again
    seen = {r.job_id for r in cluster.job_records()}
    t0 = time.monotonic()
    second = run_snakemake(args, cwd=workdir, env=env, timeout=300)
    print(f"run 2 (rerun of the failed job): {time.monotonic() - t0:.1f} s")
    assert second.returncode == 0, second.stdout
    new = [r for r in cluster.job_records() if r.job_id not in seen]
    assert [(r.rule, r.state, r.mem_mb, r.requested_gpus) for r in new] == [
        ("extract_features", "COMPLETED", 16000, 1)
    ], new
    report = _read_report(workdir / "results/extract_features.txt")
    assert report["partition"] == cluster.gpu_partition and re.fullmatch(r"\d+", report["cuda"]), report


# --- an unedited profile is named before any job is submitted ------------------------------------------------------

SHIPPED_DEFAULTS = ["mem_mb=4000 * attempt", "slurm_account=<YOUR_ACCOUNT>", "runtime=60 * attempt"]


def test_the_account_placeholder_and_unknown_partitions_are_named(tmp_path):
    partitions = tmp_path / "partitions.yaml"
    partitions.write_text(yaml.safe_dump({"partitions": {"cpu": {}, "gpu": {"max_gpu": 8}}}))
    account, unknown = slurm_profile_problems(SHIPPED_DEFAULTS, partitions, ["batch", "a100"])
    assert "slurm_account is still <YOUR_ACCOUNT>" in account and "profiles/slurm/config.yaml" in account
    assert "partitions this cluster does not have (cpu, gpu)" in unknown and "(a100, batch)" not in unknown
    assert "(batch, a100)" in unknown


def test_an_edited_profile_passes_and_partitions_are_checked_only_where_sinfo_answers(tmp_path):
    partitions = tmp_path / "partitions.yaml"
    partitions.write_text(yaml.safe_dump({"partitions": {"batch": {}, "a100": {"max_gpu": 4}}}))
    assert slurm_profile_problems(["slurm_account=lab42"], partitions, ["a100", "batch", "debug"]) == []
    assert slurm_profile_problems(["slurm_account=lab42"], partitions, None) == []  # no sinfo: left to SLURM


def test_a_run_under_the_unedited_profile_stops_before_submitting(tmp_path, run_snakemake):
    # as shipped, but without conda (not on this machine: Snakemake would stop before the check for that reason)
    profile = render_profile(SLURM_PROFILE, tmp_path / "profile", options={"software-deployment-method": None})
    workdir = tmp_path / "run"
    workdir.mkdir()
    result = run_snakemake(workdir, "--profile", profile, "--configfile", REPO / "config" / "demo.yaml", timeout=300)
    assert result.returncode != 0
    assert "slurm_account is still <YOUR_ACCOUNT>" in result.stdout + result.stderr
    assert "Submitted" not in result.stdout + result.stderr and not (workdir / "results").exists()
