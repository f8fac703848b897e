"""make bench (the bench/ package) and bench/gpu.sh: a tiny run writes every section's CSV with positive figures and
the docs; the docs writer renders given CSVs; a finished demo's steps are split and the slowest non-training one
named."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from bench.common import load_config
from bench.dag import generated_grid, job_stats
from bench.docs import render
from bench.overhead import SNAKEMAKE_LOG_NAME, demo_breakdown

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "config" / "tiny.yaml"
SUMMARY_COLUMNS = ["section", "comparison", "baseline", "candidate", "baseline_value", "candidate_value", "unit",
                   "ratio", "target", "target_met", "note"]


def fake_demo(root: Path) -> Path:
    """A finished demo's traces: a fine-tuning job (history seconds), a pre-training job (Keras log lines), an
    attack; the Snakemake log ran 600 s."""
    def write(relative: str, text: str) -> None:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)

    header = "s\th:m:s\tmax_rss\n"
    write("benchmarks/finetune/mobilenet_v2/last_block/none.tsv", header + "100.0\t0:01:40\t900\n")
    write("results/finetune/mobilenet_v2/last_block/none/history.csv", "epoch,accuracy,seconds\n0,0.1,30\n1,0.2,10\n"
          "2,0.3,10\n")
    write("benchmarks/pretrain/vgg16.tsv", header + "200.0\t0:03:20\t900\n")
    write("logs/pretrain/vgg16.log", "Epoch 1/3\n16/16 - 60s - 3s/step - loss: 2.2\nEpoch 2/3\n"
          "16/16 - 20s - 1s/step - loss: 1.9\nEpoch 3/3\n16/16 - 20s - 1s/step - loss: 1.8\n")
    write("benchmarks/robustness/mobilenet_v2/last_block/none/pgd.tsv", header + "150.0\t0:02:30\t900\n")
    started = datetime(2026, 11, 30, 1, 0, 0)
    log = root / ".snakemake" / "log" / f"{started.strftime(SNAKEMAKE_LOG_NAME)}.snakemake.log"
    write(str(log.relative_to(root)), "Building DAG of jobs...\n2 of 3 steps (67%) done\n3 of 3 steps (100%) done\n")
    os.utime(log, (started.timestamp() + 600, started.timestamp() + 600))
    return root


def test_demo_breakdown_splits_training_jobs_and_names_the_slowest_non_training_step(tmp_path):
    rows, summary = demo_breakdown(fake_demo(tmp_path))
    seconds = {row["step"]: row["seconds"] for row in rows}
    assert seconds["fine-tuning: training epochs"] == 30  # 50 s of epochs less the first epoch's 20 s excess
    assert seconds["fine-tuning: first-epoch graph tracing"] == 20
    assert seconds["fine-tuning: job start, data, model build, evaluation, outputs"] == 50
    assert seconds["stand-in pre-training: training epochs"] == 60  # from Keras's log lines
    assert seconds["stand-in pre-training: first-epoch graph tracing"] == 40
    assert seconds["attacks"] == 150
    assert sum(seconds.values()) == 450
    assert "slowest non-training step: attacks, 150 s in 1 jobs (33% of all job seconds)" in summary[0]["note"]
    assert summary[1]["candidate_value"] == pytest.approx(600)
    assert "2026-11-30T010000.000000.snakemake.log, 3 of 3 steps (100%) done" in summary[1]["note"]


def test_docs_render_the_given_csvs(tmp_path):
    pd.DataFrame({"fact": ["CPU", "CPU cores", "GPU", "date (UTC)", "size preset"],
                  "value": ["Test CPU", 2, "none", "2026-11-30 05:00", "tiny"]}).to_csv(tmp_path / "machine.csv",
                                                                                         index=False)
    pd.DataFrame([
        {"section": "pipeline", "comparison": "input pipeline, 64 px", "baseline": "ImageDataGenerator.flow",
         "candidate": "tf.data", "baseline_value": 1000.0, "candidate_value": 2500.0, "unit": "images/s",
         "ratio": 2.5, "target": ">= 2x", "target_met": "yes", "note": ""},
        {"section": "augmentation", "comparison": "augmentation cost, vgg16, standard", "baseline": "none",
         "candidate": "standard", "baseline_value": 100.0, "candidate_value": 80.0, "unit": "training images/s",
         "ratio": 0.8, "target": "cost < 10%", "target_met": "no", "note": "the augmentation alone runs at 300"},
    ]).to_csv(tmp_path / "summary.csv", index=False)
    pd.DataFrame({"demo": ["/d", "/d"], "step": ["fine-tuning: training epochs", "attacks"], "training": [True, False],
                  "jobs": [18, 38], "seconds": [1200.0, 1444.0], "share": [0.4, 0.5]}).to_csv(tmp_path / "demo.csv",
                                                                                        index=False)
    findings = tmp_path / "findings.md"
    findings.write_text("## What a person concluded\n\nThe pipeline is fast enough.\n")
    page = render(tmp_path, findings)
    assert "What a person concluded" not in page  # a tiny run: the findings are not about it
    assert "Measured on Test CPU (2 cores), GPU: none" in page
    assert "| input pipeline, 64 px " in page and "| 2,500 " in page and "| 2.50 " in page
    assert "Targets met: 1 of 2." in page
    assert "- not met: augmentation cost, vgg16, standard (cost < 10%): see its note above" in page
    assert "1. the augmentation alone runs at 300" in page
    assert "**Slowest non-training step of the demo (/d):** attacks, 1,444 s in 38 jobs, 50% of all its jobs' " in page
    assert "## 1. Input pipeline" not in page  # no pipeline.csv given
    machine = pd.read_csv(tmp_path / "machine.csv")
    machine.loc[machine["fact"] == "size preset", "value"] = "default"
    machine.to_csv(tmp_path / "machine.csv", index=False)
    assert render(tmp_path, findings).endswith("## What a person concluded\n\nThe pipeline is fast enough.\n")
    assert "What a person concluded" not in render(tmp_path, tmp_path / "absent.md")


def test_generated_grid_has_the_asked_variants_and_a_valid_ensemble():
    override = generated_grid(load_config(), 1000)
    grid = override["finetune"]
    assert len(grid["architectures"]) * len(grid["strategies"]) * len(grid["augmentations"]) == 1000
    assert set(grid["architectures"]) == set(override["architectures"])
    assert override["ensemble"]["members"] == "best_per_architecture"
    stats = job_stats("Building DAG of jobs...\nJob stats:\njob      count\n-----  -------\nall  1\nfinetune  78\n"
                      "total  79\n\nJob stats:\ntotal  3\n")
    assert stats == {"all": 1, "finetune": 78, "total": 79}


def run_checked(command, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / ".bench-packages")])}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=900, **kwargs)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    return done


@pytest.mark.slow
def test_tiny_bench_writes_every_section_with_positive_figures_and_the_docs(tmp_path):
    """Every section in one run of bench/gpu.sh in its tiny mode, on the CPU: `make bench` with the study section
    (one process: TensorFlow starts once), then the projection gpu.sh prints."""
    out, docs = tmp_path / "bench", tmp_path / "benchmarks.md"
    done = run_checked(["bash", str(REPO / "bench" / "gpu.sh"), "--size", "tiny", "--python", sys.executable,
                        "--out", out, "--docs", docs, "--", "--sections", "pipeline", "training", "switches",
                        "augmentation", "classical", "overhead", "demo", "dag", "study", "predict", "--demo",
                        fake_demo(tmp_path / "demo"), "--augmentations", "standard", "--configfile", TINY,
                        "--overhead-config", TINY, "--threads", "1"])
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert list(summary.columns) == SUMMARY_COLUMNS
    expected = {"pipeline": ["pipeline", "image_size", "batch_size", "images", "images_per_s"],
                "training": ["architecture", "what", "strategies", "images_per_s"],
                "switches": ["architecture", "switch", "off_images_per_s", "on_images_per_s"],
                "augmentation": ["architecture", "augmentation", "images_per_s", "cost",
                                 "pipeline_alone_images_per_s", "predicted_cost"],
                "classical": ["features", "model", "estimator", "params", "fit_s", "rounds", "selection_accuracy",
                              "evaluation_accuracy"],
                "overhead": ["variant", "fit_images", "epochs", "stage", "seconds", "share"],
                "dag": ["grid", "variants", "jobs", "seconds", "bare_seconds", "ratio"],
                "predict": ["variant", "scene_px", "km2", "stride", "tta", "windows", "seconds", "seconds_per_km2",
                            "windows_per_s", "peak_rss_mb"]}
    for section, columns in expected.items():
        frame = pd.read_csv(out / f"{section}.csv")
        assert columns == list(frame.columns)[:len(columns)], section
    assert set(summary["section"]) >= {"pipeline", "switches", "augmentation", "classical", "overhead", "dag",
                                       "predict"}
    rates = pd.concat([pd.read_csv(out / f"{name}.csv")["images_per_s"] for name in ("training", "augmentation")])
    assert (rates > 0).all()
    pipeline = pd.read_csv(out / "pipeline.csv").set_index("pipeline")["images_per_s"]
    assert (pipeline.drop("ImageDataGenerator.flow (study)") > 0).all()
    assert (pd.read_csv(out / "classical.csv")["fit_s"] > 0).all()
    stages = pd.read_csv(out / "overhead.csv")
    assert len(stages) == 6 and (stages["seconds"] > 0).all()
    assert (pd.read_csv(out / "dag.csv")["seconds"] > 0).all() and (pd.read_csv(out / "dag.csv")["jobs"] > 0).all()
    scenes = pd.read_csv(out / "predict.csv")
    assert list(zip(scenes["scene_px"], scenes["tta"], strict=True)) == [(96, False), (96, True), (160, False)]
    assert (scenes[["seconds", "windows", "peak_rss_mb"]] > 0).all().all()
    assert scenes.loc[0, "windows"] == scenes.loc[1, "windows"] == ((96 - 64) // 16 + 1) ** 2
    assert {"full tile 10980 px, mobilenet_v2/last_block/none, stride 16", "peak memory of the mapping process"} <= \
        set(summary["comparison"])
    study = pd.read_csv(out / "study.csv")
    assert list(study["variant"]) == ["mobilenet_v2/last_block/standard"]
    assert (study["images_per_s"] > 0).all() and (study["projected_hours"] > 0).all()
    page = docs.read_text()
    for title in ("## Machine", "## Summary", "## 1. Input pipeline", "## 2. Augmentation cost",
                  "## 6. Scale of the DAG", "## 7. Full-size variants and the projected study",
                  "## 8. Land-cover maps: time and memory against scene size",
                  "**Slowest non-training step of the demo"):
        assert title in page
    assert "sees GPUs: none (CPU figures)" in done.stdout
    assert "mobilenet_v2/last_block/standard: " in done.stdout
    assert "projected full study on this machine: " in done.stdout
