"""Provenance of a result: the job's config entries, package versions, git state, device, wall time."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sklearn
import xgboost

from landcover_transfer.evaluation.metrics import write_evaluation
from landcover_transfer.workflow import jobs as workflow
from landcover_transfer.workflow import provenance as provenance_module
from landcover_transfer.workflow.atomic_files import read_json
from landcover_transfer.workflow.provenance import device, git_state, package_versions, provenance, provenance_table

REPO = Path(__file__).resolve().parents[1]


def pinned(name: str) -> str:
    return re.search(rf"^{re.escape(name)}==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)[1]


def git(root, *args):
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_package_versions_are_the_installed_ones():
    versions = package_versions()
    assert versions["tensorflow"] == pinned("tensorflow_cpu")  # the CPU build stands for tensorflow
    assert versions["keras"] == pinned("keras")
    assert versions["xgboost"] == xgboost.__version__ == pinned("xgboost-cpu")
    assert versions["scikit-learn"] == sklearn.__version__
    assert versions["snakemake"] == pinned("snakemake")
    assert versions["python"] == platform.python_version()


def test_git_state_names_the_commit_and_whether_tracked_files_changed(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "Snakefile").write_text("rule all:\n")
    git(tmp_path, "add", "Snakefile")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    commit = git(tmp_path, "rev-parse", "HEAD")
    assert git_state(tmp_path) == {"commit": commit, "dirty": False}
    (tmp_path / "my.yaml").write_text("training: {seed: 1}\n")  # untracked: a user's override file
    assert git_state(tmp_path) == {"commit": commit, "dirty": False}
    (tmp_path / "Snakefile").write_text("rule all:\n    input: []\n")
    assert git_state(tmp_path) == {"commit": commit, "dirty": True}


def test_git_state_outside_a_checkout_or_without_git_is_null(tmp_path, monkeypatch):
    assert git_state(tmp_path) == {"commit": None, "dirty": None}

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(provenance_module.subprocess, "run", no_git)
    assert git_state(REPO) == {"commit": None, "dirty": None}


def test_device_names_the_cpu_and_no_gpu_for_a_job_without_tensorflow(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    facts = device()
    assert facts["host"] == platform.node() and facts["gpus"] is None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                  if line.startswith("model name")]
        assert facts["cpu"] == models[0]


def test_a_result_written_inside_a_job_records_its_provenance(tmp_path, monkeypatch):
    params = {"model": {"estimator": "LogisticRegression", "params": {"C": 1.0}}, "weights": None}
    monkeypatch.setattr(workflow, "_JOB", {"params": params})
    outputs = SimpleNamespace(**{name: tmp_path / f"{name}{suffix}" for name, suffix in (
        ("metrics", ".json"), ("report", ".csv"), ("confusion", ".png"), ("proba_evaluation", ".npy"))})
    y = np.array([0, 1, 1, 0])
    write_evaluation(outputs, name="m", y_true=y, proba_evaluation=np.eye(2)[y], class_names=["a", "b"])
    record = read_json(outputs.metrics)["provenance"]
    assert record["config"] == params
    assert record["software"] == package_versions()
    assert record["git"] == git_state(REPO)
    assert record["git"]["commit"] == git(REPO, "rev-parse", "HEAD")
    assert record["device"]["cpu"] == device()["cpu"]
    again = SimpleNamespace(**{name: tmp_path / "again" / path.name for name, path in vars(outputs).items()})
    write_evaluation(again, name="m", y_true=y, proba_evaluation=np.eye(2)[y], class_names=["a", "b"])
    assert again.metrics.read_bytes() == outputs.metrics.read_bytes()  # a rebuilt result: nothing downstream reruns


def test_outside_a_job_nothing_is_invented(tmp_path, monkeypatch):
    monkeypatch.setattr(workflow, "_JOB", {})
    assert workflow.job_provenance() is None


def test_provenance_table_one_row_per_result_blank_where_unknown():
    record = provenance({"a": 1})
    table = provenance_table({"classical/svm": {"provenance": record, "fit_time_s": 3.2}, "finetune/old/run/none": {}})
    assert table["Result"].tolist() == ["classical/svm", "finetune/old/run/none"]
    first, old = table.iloc[0], table.iloc[1]
    assert first["Git Commit"] == record["git"]["commit"] and first["Wall Time (s)"] == 3.2
    assert first["keras"] == pinned("keras")
    assert old.drop("Result").isna().all()


@pytest.mark.parametrize("gpus, shown", [(["NVIDIA H200"], "NVIDIA H200"), ([], "none"), (None, None)])
def test_provenance_table_says_which_gpus_a_job_saw(gpus, shown):
    record = {"device": {"cpu": "x", "gpus": gpus, "host": "h"}}
    assert provenance_table({"r": {"provenance": record}})["GPU"].iloc[0] == shown
