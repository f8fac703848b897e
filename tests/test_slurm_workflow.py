"""The real workflow through the real SLURM profile, on a throw-away one-node SLURM cluster.

Every test here is marked `slurm` and uses the session fixture `slurm_cluster`
(tests/slurm_cluster.py: one node with 16 advertised CPUs, 256 GB and two fake GPUs in the
partitions `cpu` and `gpu`). It skips where such a cluster cannot run (not root, no apt-get) and
fails instead on CI (CI=true) as root.

The profile is profiles/slurm as a user would use it after the one-time edit of its site
placeholders (`render_profile`: account and partitions filled in), with one more change:
`software-deployment-method: conda` removed, because conda is not installed on the test machine;
the jobs then run with the interpreter Snakemake runs from (the repository's .venv), which is the
profile's documented "pre-built virtualenv on the shared filesystem" alternative. The settings
this cluster needs because it has no accounting database (`--slurm-status-command squeue`, a short
`--slurm-init-seconds-before-status-checks`) and test-specific `--retries 0` are scalar options,
so they are given on the command line (which replaces only those keys of the profile). The
workflow runs from the repository's Snakefile (`-s`) in a temporary working directory (`-d`).

The first two tests share one SLURM run of tests/config/tiny.yaml with tests/config/slurm.yaml (two trainings;
module fixture `tiny_slurm_runs`) in which one training fails inside its job, then a second run after the cause is
removed:
* `test_failed_variant_fails_alone_and_is_rerun_alone`: the failure stops only that `finetune` job; keep-going
  finishes the rest, nothing that needs every variant runs; once fixed, a rerun submits exactly that one
  training (and its attacks), then the aggregation runs.
* `test_tiny_config_through_slurm_profile`: every output of the tiny config; GPU rules asked for and got a GPU
  on the gpu partition with the profile's resources (which win over the tiny config's), CPU rules did not;
  the `localrules` were not submitted.
* `test_cancelled_training_resumes_from_last_epoch`: a training job cancelled mid-run (scancel)
  with Snakemake stopped too (SIGTERM) resumes from its last finished epoch on the rerun.
* `test_requeued_training_resumes_from_last_epoch`: a training job requeued mid-run (as on preemption) resumes
  from its last finished epoch within the same Snakemake run.

Run: `.venv/bin/pytest -q -m slurm tests/test_slurm_workflow.py -s --durations=5`
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from slurm_cluster import (  # noqa: F401  (slurm_cluster is a fixture)
    parse_job_stats,
    render_profile,
    run_snakemake,
    slurm_cluster,
)
from slurm_placement import partition_roles

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
SLURM_PROFILE = REPO / "profiles" / "slurm"
TINY = REPO / "tests" / "config" / "tiny.yaml"
SLURM_GRID = REPO / "tests" / "config" / "slurm.yaml"  # on top of TINY: two trainings
ACCOUNT = "lcttest"  # Slurm lower-cases account names

# rules/common.smk's `localrules:` (checked against the file below, so a change there is noticed)
LOCAL_RULES = {
    "make_splits", "classical_table", "finetune_table", "ensemble", "ensemble_table", "leaderboard", "plots",
    "effective_config", "robustness_table", "robustness_plots", "comparisons", "provenance", "model_card",
    "evaluate_scene", "usage",
}
UNPLANNED_HERE = {"model_card", "evaluate_scene"}  # the SLURM grid exports no variant and maps no labelled scene
# submitted by the tiny run; the GPU rules are those whose config `resources` entry has `gpu: 1` (extract_features:
# config.yaml's, which the tiny config keeps)
GPU_RULES = {"finetune", "extract_features", "attack"}
CPU_RULES = {"synthetic_dataset", "train_classical", "transfer_matrix"}
RESOURCE_KIND = {"finetune": "finetune", "extract_features": "features", "attack": "attack"}  # config `resources`


# ------------------------------------------------------------------ helpers
@pytest.fixture(autouse=True)
def _print_wall_time(request):
    start = time.monotonic()
    yield
    print(f"\n[wall time] {request.node.name}: {time.monotonic() - start:.1f} s")


def _workflow_localrules() -> set[str]:
    text = (REPO / "rules" / "common.smk").read_text()
    block = re.search(r"^localrules:\s*\n((?:[ \t]+\w+,?\s*\n)+)", text, re.M)
    assert block, "no `localrules:` block in rules/common.smk"
    return set(re.findall(r"\w+", block.group(1)))


def _merged_config(*files: Path) -> dict:
    """config/config.yaml updated by `files` as Snakemake merges --configfile (dicts key by key)."""

    def update(target: dict, source: dict) -> dict:
        for key, value in source.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                update(target[key], value)
            else:
                target[key] = value
        return target

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for path in files:
        update(config, yaml.safe_load(Path(path).read_text()) or {})
    return config


def _env(cluster) -> dict:
    # no GPU of the test machine's own, no settings of an enclosing Snakemake run
    base = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES" and not k.startswith("SNAKEMAKE_")}
    return cluster.env(base)


def _profile(cluster, dest: Path) -> Path:
    """profiles/slurm after the user's one-time edit for this cluster, minus conda (see module doc)."""
    cpu, gpu = partition_roles(SLURM_PROFILE)
    return render_profile(
        SLURM_PROFILE,
        dest,
        default_resources={"slurm_account": ACCOUNT},
        partitions={cpu: cluster.cpu_partition, gpu: cluster.gpu_partition},
        # conda is not installed here; the jobs use this venv's interpreter instead
        options={"software-deployment-method": None},
    )


def _args(cluster, profile: Path, workdir: Path, configfiles, *extra) -> list[str]:
    return [
        "--profile", str(profile), *cluster.snakemake_cli_args(),
        "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
        "--configfile", *map(str, configfiles),
        *extra,
    ]


def _run(cluster, args, workdir: Path, what: str, timeout: float):
    t0 = time.monotonic()
    result = run_snakemake(args, cwd=workdir, env=_env(cluster), timeout=timeout)
    print(f"  {what}: rc={result.returncode}, {time.monotonic() - t0:.1f} s")
    return result


def _new_records(cluster, seen: set[str]):
    return [r for r in cluster.job_records() if r.job_id not in seen]


def _wildcards(record) -> str | None:
    match = re.search(r"_wildcards_(.+)$", record.fields.get("Comment", ""))
    return match.group(1) if match else None


def _variant_key(run: str) -> str:
    """The plugin's --comment form of a training's wildcards (arch, strategy, aug, seed), from its folder name."""
    return run.replace("/seed", "/").replace("/", "_")


def _tail(text: str, n: int = 12000) -> str:
    return text[-n:]


def _epochs_in_log(path: Path) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in re.findall(r"^Epoch (\d+)/(\d+)\s*$", path.read_text(errors="replace"), re.M)]


# ------------------------------------------------------------------ 1. the tiny config, one variant failing
BROKEN_V = "mobilenet_v2/last_block/standard/seed42"  # a training: variant and seed (training.seed)


@pytest.fixture(scope="module")
def tiny_slurm_runs(slurm_cluster, tmp_path_factory):
    """tests/config/tiny.yaml through the SLURM profile with one training failing inside its job, then the
    cause removed: run 1 (the failure, keep-going), the dry run after the fix, run 2. One run shared by the
    tests of the failure and of the finished workflow (a SLURM run of the tiny grid costs minutes)."""
    cluster = slurm_cluster
    tmp = tmp_path_factory.mktemp("tiny_slurm")
    workdir = tmp / "wf"
    profile = _profile(cluster, tmp / "profile")
    # A failure inside one job (config mistakes are stopped before any job): its resume folder is a file.
    blocker = workdir / "results/finetune" / BROKEN_V / ".resume"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    # retries 0: the failure is deterministic, the profile's 2 retries would only repeat it
    args = _args(cluster, profile, workdir, [TINY, SLURM_GRID], "--retries", "0")
    runs = SimpleNamespace(cluster=cluster, workdir=workdir, profile=profile, config=_merged_config(TINY, SLURM_GRID))

    seen = {r.job_id for r in cluster.job_records()}
    runs.first = _run(cluster, args, workdir, "run 1 (one broken variant)", timeout=2700)
    runs.first_records = _new_records(cluster, seen)
    runs.first_outputs = {path for path in ("results/tables/classical.csv", "results/tables/finetune.csv",
                                            "results/ensemble", "results/tables/ensemble.csv",
                                            "results/tables/leaderboard.csv", "results/plots")
                          if (workdir / path).exists()}
    failed_log = workdir / "logs/finetune" / f"{BROKEN_V}.log"  # run 2's job writes the same log again
    runs.first_log = failed_log.read_text(errors="replace") if failed_log.is_file() else ""
    blocker.unlink()
    runs.plan = _run(cluster, [*args, "--dry-run"], workdir, "dry run after the fix", timeout=300)
    seen = {r.job_id for r in cluster.job_records()}
    runs.second = _run(cluster, args, workdir, "run 2 (after the fix)", timeout=1800)
    runs.second_records = _new_records(cluster, seen)
    return runs


def _variants(config) -> list[str]:
    """Every training's folder under results/finetune (variant and seed)."""
    grid, seeds = config["finetune"], config["finetune"].get("seeds") or [config["training"]["seed"]]
    return [f"{a}/{s}/{g}/seed{seed}" for a in grid["architectures"] for s in grid["strategies"]
            for g in grid["augmentations"] for seed in seeds]


def test_failed_variant_fails_alone_and_is_rerun_alone(tiny_slurm_runs):
    runs, workdir = tiny_slurm_runs, tiny_slurm_runs.workdir
    first, second = runs.first, runs.second
    good = [v for v in _variants(runs.config) if v != BROKEN_V]

    # ---- run 1: the broken variant fails, keep-going completes everything else it can
    assert first.returncode != 0, _tail(first.stdout)
    for name in ("metrics.json", "model.keras"):
        assert all((workdir / "results/finetune" / v / name).is_file() for v in good), _tail(first.stdout)
    # the independent classical branch completed, and the ensembles of the listed members (the broken variant is
    # none of them); nothing that needs all variants ran
    assert BROKEN_V.rsplit("/", 1)[0] not in runs.config["ensemble"]["members"]
    assert runs.first_outputs == {"results/tables/classical.csv", "results/ensemble",
                                  "results/tables/ensemble.csv"}, _tail(first.stdout)
    failed = [(r.rule, r.state, _wildcards(r)) for r in runs.first_records if r.state != "COMPLETED"]
    assert failed == [("finetune", "FAILED", _variant_key(BROKEN_V))], runs.first_records
    assert "FileExistsError" in runs.first_log and ".resume" in runs.first_log, runs.first_log[-3000:]
    assert re.search(r"Error in rule finetune", first.stdout), _tail(first.stdout)

    # ---- the cause removed: the plan is that one training, its attacks and what needs every variant
    expected = {"all": 1, "finetune": 1, "finetune_table": 1, "leaderboard": 1, "plots": 1, "transfer_matrix": 1,
                "robustness_table": 1, "robustness_plots": 1, "comparisons": 1, "provenance": 1, "usage": 1,
                # the fixed variant's attacks (the ensemble surrogate's members were done in run 1)
                "attack": 1}
    assert runs.plan.returncode == 0, _tail(runs.plan.stdout)
    assert parse_job_stats(runs.plan.stdout) == expected, _tail(runs.plan.stdout)
    planned = re.findall(r"^Job \d+: Fine-tuning (\S+) \(seed (\d+)\)$", runs.plan.stdout, re.M)  # its message
    assert [f"{variant}/seed{seed}" for variant, seed in planned] == [BROKEN_V], _tail(runs.plan.stdout)

    # ---- run 2: exactly that plan; the one training submitted to SLURM is the fixed variant
    assert second.returncode == 0, _tail(second.stdout)
    assert parse_job_stats(second.stdout) == expected, _tail(second.stdout)
    new = runs.second_records
    print("  rerun SLURM jobs:", [(r.rule, _wildcards(r), r.state) for r in new])
    assert [(r.rule, _wildcards(r), r.state) for r in new if r.rule == "finetune"] == [
        ("finetune", _variant_key(BROKEN_V), "COMPLETED")], new
    assert sorted(r.rule for r in new if r.rule != "attack") == ["finetune", "transfer_matrix"], new
    rows = pd.read_csv(workdir / "results/tables/finetune.csv")
    assert len(rows) == len(good) + 1, rows


def test_tiny_config_through_slurm_profile(tiny_slurm_runs):
    runs, workdir = tiny_slurm_runs, tiny_slurm_runs.workdir
    assert _workflow_localrules() == LOCAL_RULES, "rules/common.smk's localrules changed: update LOCAL_RULES"
    config = runs.config  # the tiny grid; classical models and ensemble methods merged in
    variants = _variants(config)
    classical = list(config["classical"]["models"])
    assert runs.second.returncode == 0, _tail(runs.second.stdout)

    # every output of the study's targets
    expected = [
        *(f"results/tables/{t}.{ext}" for t in ("classical", "finetune", "ensemble", "leaderboard")
          for ext in ("csv", "md")),
        *(f"results/plots/{p}.png" for p in ("variant_accuracy", "factor_effects", "leaderboard")),
        *(f"results/finetune/{v}/{f}" for v in variants
          for f in ("metrics.json", "model.keras", "history.csv", "proba_selection.npy", "curves.png")),
        *(f"results/ensemble/{m}/metrics.json" for m in config["ensemble"]["methods"]),
        *(f"results/classical/{m}/metrics.json" for m in classical),
    ]
    missing = [f for f in expected if not (workdir / f).is_file()]
    assert not missing, f"missing outputs: {missing}\n{_tail(runs.second.stdout)}"
    assert any((workdir / "results/plots/curves").glob("*.png"))
    assert not list((workdir / "results/finetune").glob("*/*/*/*/.resume/epoch*")), "epoch state left behind"

    records = runs.first_records + runs.second_records
    by_rule = runs.cluster.jobs_by_rule(records)
    print("  SLURM jobs:", {rule: len(rs) for rule, rs in sorted(by_rule.items())})
    # only the heavy rules were submitted: no localrule, and not the target rule `all`
    assert set(by_rule) == GPU_RULES | CPU_RULES, records
    assert not (LOCAL_RULES | {"all"}) & set(by_rule)
    # ... yet they ran (rule messages replace "localrule X:" blocks)
    stats = Counter(parse_job_stats(runs.first.stdout)) + Counter(parse_job_stats(runs.second.stdout))
    assert all(stats.get(rule) for rule in LOCAL_RULES - UNPLANNED_HERE), stats
    assert all(r.account == ACCOUNT for r in records), records
    assert [_wildcards(r) for r in records if r.state != "COMPLETED"] == [_variant_key(BROKEN_V)], records
    assert sorted(_wildcards(r) for r in by_rule["finetune"] if r.state == "COMPLETED") == sorted(
        map(_variant_key, variants))
    assert len(by_rule["train_classical"]) == len(classical)

    # GPU rules: gpu partition (the plugin's choice for a GPU request), one GPU requested (--gpus=1) and allocated
    # (the GRES slurmd turns into CUDA_VISIBLE_DEVICES; tests/test_slurm_profile.py checks the variable itself);
    # threads, memory and wall time are the config's `resources` (the tiny config's), which the profile does not
    # override
    for rule in GPU_RULES:
        wanted = config["resources"][RESOURCE_KIND[rule]]
        for r in by_rule[rule]:
            assert r.partition == runs.cluster.gpu_partition, r
            assert r.requested_gpus == 1 and r.allocated_gpus == 1, r.fields
            assert r.cpus == wanted["threads"] and not r.fields.get("CpusPerTres"), r.fields
            assert r.mem_mb == wanted["mem_mb"], r
            assert r.time_limit == f"00:{wanted['runtime']:02d}:00", r

    # CPU rules: cpu partition, no GPU; mem from the rule (tiny config: 2000) or default-resources (4000)
    for rule in CPU_RULES:
        for r in by_rule[rule]:
            assert r.partition == runs.cluster.cpu_partition, r
            assert r.requested_gpus == 0 and r.allocated_gpus == 0, r.fields
            assert not r.fields.get("CpusPerTres"), r.fields
    assert [r.mem_mb for r in by_rule["synthetic_dataset"]] == [4000]
    assert {r.mem_mb for r in by_rule["train_classical"]} == {config["resources"]["classical"]["mem_mb"]}


# ------------------------------------------------------------------ 3. resume after a cancelled job
RESUME_V = "mobilenet_v2/last_block/none/seed42"
EPOCHS = 6


def _epochs_saved(state_path: Path) -> int:
    """Finished epochs recorded in a resume folder's state file (replaced atomically: always whole)."""
    try:
        return len(json.loads(state_path.read_text())["history"])
    except FileNotFoundError:
        return 0


def _resume_run(cluster, tmp_path) -> SimpleNamespace:
    """A working directory, profile and arguments for one training long enough to interrupt."""
    workdir = tmp_path / "wf"
    workdir.mkdir()
    profile = _profile(cluster, tmp_path / "profile")
    override = tmp_path / "resume.yaml"
    override.write_text(yaml.safe_dump({
        # more and larger images than tiny.yaml (the model resizes 32 -> 96 px), so that an epoch
        # takes seconds (measured ~0.5 s at tiny.yaml's size): the interruption lands mid-training
        "data": {"synthetic": {"train_per_class": 120}},
        "finetune": {"strategies": ["last_block"], "augmentations": ["none"]},
        # patience above the epoch count: the run must not stop early
        "training": {"epochs": EPOCHS, "image_size": 96, "early_stopping": {"patience": EPOCHS + 1}},
        "ensemble": {"members": "best_per_architecture"},
    }))
    folder = workdir / "results/finetune" / RESUME_V
    return SimpleNamespace(
        workdir=workdir, args=_args(cluster, profile, workdir, [TINY, override]), folder=folder,
        state=folder / ".resume/state.json", log=workdir / "logs/finetune" / f"{RESUME_V}.log",
        # the fine-tuning branch only: synthetic_dataset, make_splits, finetune, finetune_table
        target="all_finetune")


def _start_and_wait_for_epochs(cluster, run, out_path: Path, epochs: int = 2):
    """Snakemake started on the training (--retries 0: Snakemake must not resubmit an interrupted job itself);
    returns (its process, the running SLURM job) once `epochs` epochs are saved."""
    seen = {r.job_id for r in cluster.job_records()}
    with open(out_path, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "snakemake", *run.args, "--retries", "0", run.target],
            cwd=run.workdir, env=_env(cluster), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + 900
    while _epochs_saved(run.state) < epochs:
        if proc.poll() is not None:
            pytest.fail(f"snakemake exited (rc={proc.returncode}) before {epochs} epochs were logged:\n"
                        f"{_tail(out_path.read_text())}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"no {epochs} epochs in {run.state} after 900 s:\n{_tail(out_path.read_text())}")
        time.sleep(0.2)
    running = [r for r in _new_records(cluster, seen) if r.rule == "finetune" and r.state == "RUNNING"]
    assert len(running) == 1, f"expected one running finetune job: {running}"
    assert _wildcards(running[0]) == _variant_key(RESUME_V)
    return proc, running[0]


def _assert_resumed_after(run, epochs_done: int) -> None:
    """The training's last attempt began after the `epochs_done` finished epochs and trained each later one once;
    its outputs are those of an uninterrupted run."""
    epochs = _epochs_in_log(run.log)
    print(f"  epochs finished before the interruption: {epochs_done}; last attempt's epochs: {epochs}")
    assert epochs, run.log.read_text(errors="replace")[-3000:]
    assert all(total == EPOCHS for _, total in epochs)
    # The state file is replaced atomically after an epoch's files are written: the rerun starts
    # exactly after the last recorded epoch (log epochs are 1-based).
    first_epoch = epochs[0][0]
    assert first_epoch == epochs_done + 1, (
        f"the rerun started at epoch {first_epoch} after {epochs_done} finished ones: not resumed")
    assert [n for n, _ in epochs] == list(range(first_epoch, EPOCHS + 1)), (
        f"the rerun should train every epoch from where it resumed to the end, once: {epochs}")
    history = pd.read_csv(run.folder / "history.csv")
    assert history["epoch"].tolist() == list(range(EPOCHS)), history
    metrics = json.loads((run.folder / "metrics.json").read_text())
    assert metrics["epochs_run"] == EPOCHS, metrics
    assert not list(run.state.parent.glob("epoch*")), "epoch state left behind after success"


def test_cancelled_training_resumes_from_last_epoch(slurm_cluster, tmp_path):
    cluster = slurm_cluster
    run = _resume_run(cluster, tmp_path)
    args, workdir = run.args, run.workdir

    # ---- run 1, interrupted: the job cancelled, then Snakemake stopped too, as if the login session had gone
    out_path = tmp_path / "run1.out"
    t0 = time.monotonic()
    proc, job = _start_and_wait_for_epochs(cluster, run, out_path)
    try:
        cluster.run("scancel", job.job_id)
        print(f"  scancel {job.job_id} after {_epochs_saved(run.state)} epochs, {time.monotonic() - t0:.1f} s in")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            print("  snakemake ignored SIGTERM for 90 s: killed")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    first_out = out_path.read_text(errors="replace")
    print(f"  run 1 (interrupted): rc={proc.returncode}, {time.monotonic() - t0:.1f} s")

    # the job is gone, and it was cancelled mid-training (not finished)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = next(r.state for r in cluster.job_records([job.job_id]))
        if state not in ("RUNNING", "COMPLETING", "PENDING", "CONFIGURING"):
            break
        time.sleep(0.5)
    assert state == "CANCELLED", f"job {job.job_id}: {state}"
    epochs_done = _epochs_saved(run.state)
    assert 2 <= epochs_done < EPOCHS, (
        f"{epochs_done} epochs finished before the cancel took effect: the training is too fast "
        f"for this test (raise data.synthetic.train_per_class)\n{_tail(first_out)}")
    assert not (run.folder / "metrics.json").exists()
    assert json.loads(run.state.read_text())["next_epoch"] == epochs_done

    # a Snakemake killed without its cleanup leaves a lock: --unlock, as the profile's comment says
    locks = workdir / ".snakemake/locks"
    if locks.is_dir() and any(locks.iterdir()):
        print("  run 1 left a lock: --unlock")
        unlock = _run(cluster, [*args, "--unlock"], workdir, "unlock", timeout=120)
        assert unlock.returncode == 0, _tail(unlock.stdout)

    # ---- run 2: the training continues after the last finished epoch
    seen = {r.job_id for r in cluster.job_records()}
    second = _run(cluster, [*args, "--rerun-incomplete", run.target], workdir, "run 2 (resume)", timeout=900)
    assert second.returncode == 0, _tail(second.stdout)
    new = _new_records(cluster, seen)
    assert [(r.rule, r.state) for r in new] == [("finetune", "COMPLETED")], new
    _assert_resumed_after(run, epochs_done)


def test_requeued_training_resumes_from_last_epoch(slurm_cluster, tmp_path):
    """A preempted training (SLURM requeues the job: the profile's `slurm-requeue: true` submits with --requeue;
    here `scontrol requeue`) goes on in the same Snakemake run, from its last finished epoch."""
    cluster = slurm_cluster
    run = _resume_run(cluster, tmp_path)
    out_path = tmp_path / "run.out"
    proc, job = _start_and_wait_for_epochs(cluster, run, out_path)
    try:
        assert job.fields.get("Requeue") == "1", job.fields  # submitted with --requeue
        cluster.run("scontrol", "requeue", job.job_id)
        deadline = time.monotonic() + 60
        while next(r.state for r in cluster.job_records([job.job_id])) in ("RUNNING", "COMPLETING"):
            assert time.monotonic() < deadline, f"job {job.job_id} still running 60 s after its requeue"
            time.sleep(0.2)
        # the first attempt has stopped; the next one starts TensorFlow for seconds before any epoch
        epochs_done = _epochs_saved(run.state)
        print(f"  scontrol requeue {job.job_id} after {epochs_done} epochs")
        proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    output = out_path.read_text(errors="replace")
    assert proc.returncode == 0, _tail(output)
    record = next(iter(cluster.job_records([job.job_id])))
    assert record.state == "COMPLETED" and int(record.fields.get("Restarts", 0)) == 1, record.fields
    assert 2 <= epochs_done < EPOCHS, f"{epochs_done} epochs before the requeue took effect\n{_tail(output)}"
    _assert_resumed_after(run, epochs_done)
