"""A real kill: Snakemake SIGKILLed while it trains (a login node dropping the connection), then the README's
recovery (`--unlock`, rerun with `--rerun-incomplete`). The training job outlives Snakemake as an orphan;
nothing may be lost, truncated or trained twice. Before the kill, a second run in the same directory is
refused (Snakemake's lock).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"
VARIANT = "mobilenet_v2/last_block/none/seed42"  # a training: variant and seed (training.seed)
EPOCHS = 8


def _epochs_saved(state_path: Path) -> int:
    try:
        return len(json.loads(state_path.read_text())["history"])
    except FileNotFoundError:
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_killed_snakemake_then_unlock_and_rerun_keeps_the_orphans_training(tmp_path, run_snakemake):
    overlay = tmp_path / "one_variant.yaml"
    overlay.write_text(yaml.safe_dump({
        # the model resizes 32 -> 96 px so that an epoch takes about a second: the kill lands mid-training
        "data": {"synthetic": {"train_per_class": 120}},
        "finetune": {"architectures": ["mobilenet_v2"], "strategies": ["last_block"], "augmentations": ["none"]},
        "training": {"epochs": EPOCHS, "image_size": 96, "early_stopping": {"patience": EPOCHS + 1}},
        "ensemble": {"members": "best_per_architecture"},
    }))
    target = f"results/finetune/{VARIANT}/metrics.json"
    args = ["--configfile", TINY_CONFIG, overlay]
    folder = tmp_path / "results/finetune" / VARIANT
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), target,
           "-j1", "--resources", "gpu=1", *map(str, args)]
    with open(tmp_path / "run1.out", "w") as out:
        snakemake = subprocess.Popen(cmd, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    orphan = None
    try:
        deadline = time.monotonic() + 600
        while _epochs_saved(folder / ".resume/state.json") < 1:
            assert snakemake.poll() is None, (tmp_path / "run1.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "no epoch saved in 600 s"
            time.sleep(0.1)
        second = run_snakemake(tmp_path, target, "-j1", "--resources", "gpu=1", *args, timeout=300)
        assert second.returncode != 0 and "Directory cannot be locked" in second.stdout + second.stderr  # two runs
        snakemake.send_signal(signal.SIGKILL)  # Snakemake only: its job goes on as an orphan
        snakemake.wait(timeout=60)
        orphan = int(re.match(r"pid (\d+)", (folder / ".resume/lock").read_text())[1])
        assert _alive(orphan), "the training job died with Snakemake: this test needs it to outlive it"
        assert not (folder / "metrics.json").exists()

        unlock = run_snakemake(tmp_path, "--unlock", *args, timeout=300)
        assert unlock.returncode == 0, unlock.stdout + unlock.stderr
        rerun = run_snakemake(tmp_path, target, "-j1", "--resources", "gpu=1", "--rerun-incomplete", *args,
                              timeout=900)
        assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    finally:
        if snakemake.poll() is None:
            snakemake.kill()
        if orphan and _alive(orphan):
            os.kill(orphan, signal.SIGKILL)

    # The rerun's job waited for the orphan if it still ran, then found its finished state: not trained twice.
    log = (tmp_path / f"logs/finetune/{VARIANT}.log").read_text(errors="replace")
    assert "training already finished for this definition" in log, log[-3000:]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["epochs_run"] == EPOCHS and metrics["stopped_by"] == "completed", metrics
    history = pd.read_csv(folder / "history.csv")
    assert history["epoch"].tolist() == list(range(EPOCHS))  # every epoch once, none lost
    assert not list((folder / ".resume").glob("epoch*"))
