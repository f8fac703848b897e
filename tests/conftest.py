"""Shared fixtures: running Snakemake on the repository's workflow in a temporary working directory.

Every run uses `-s <repo>/Snakefile -d <tmp dir>`, so results, logs and `.snakemake/` land in the
temporary directory and the repository's working tree is never touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# `make test`'s three workers share two cores: one thread per TensorFlow (and BLAS) process, the tests' own and the
# workflow jobs they start (a job's `threads` still sets its own), or the thread pools of several processes contend
# and spin (measured: the same suite took 25 CPU-minutes instead of 21 when three multi-threaded runs overlapped).
for _variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"
# the tiny run's configuration: the tiny grid, and the uses of its models (tests/config/predict.yaml)
TINY_RUN_CONFIGS = (TINY_CONFIG, REPO / "tests" / "config" / "predict.yaml")
TINY_RUN_CHIPS = "chips"  # tests/config/predict.yaml's predict.chips, written by tiny_run into its working directory
LOGGER_PLUGIN = REPO / "snakemake-logger-plugin-landcover"


def _run_snakemake(workdir, *args, timeout: float = 600) -> subprocess.CompletedProcess:
    """`snakemake -s <repo>/Snakefile -d <workdir> ARGS`; stdout and stderr captured as text. The working copy's
    logger plugin is on PYTHONPATH (`--logger landcover`), ahead of an older one installed in the venv.

    Put targets before options that take several values (`--configfile`, `--resources`, `--logger`), or
    Snakemake parses them as more values of that option.
    """
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           *map(str, args)]
    paths = [str(LOGGER_PLUGIN), os.environ.get("PYTHONPATH", "")]
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))})


# `make test` runs three pytest-xdist workers (`--dist loadgroup`). Tests sharing an expensive session fixture go
# to one worker as one group, so the fixture is built once: the SLURM cluster (started once per process, and the
# daemons of two would clash) and the tiny run. Other tests are grouped by module (module fixtures build once).
# The long groups come first, so that the short ones fill the end: the SLURM tests (which mostly wait on the
# scheduler's polling, overlapping the computing workers), the tiny run, then the modules of minutes.
_FIRST_GROUPS = ("slurm", "tiny_run", "test_workflow", "test_bench", "test_training", "test_kill")


def _xdist_group(item) -> str:
    if "slurm_cluster" in item.fixturenames:
        return "slurm"
    if "tiny_run" in item.fixturenames:
        return "tiny_run"
    return item.path.stem


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the test ids
def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_xdist_group(item)))
    rank = {group: i for i, group in enumerate(_FIRST_GROUPS)}
    items.sort(key=lambda item: rank.get(_xdist_group(item), len(rank)))  # stable: file order otherwise


@pytest.hookimpl(trylast=True)  # after xdist's hook: on a worker, every test id must carry its group by now
def pytest_collection_finish(session):
    if session.config.getoption("loadgroup", False) and not all("@" in item.nodeid for item in session.items):
        raise pytest.UsageError("pytest-xdist --dist loadgroup lost the test groups (the SLURM cluster and the tiny "
                                "run would be set up on both workers): use the pytest pinned in requirements-dev.txt")


def write_evaluation_chips(folder: Path) -> None:
    """The tiny run's evaluation images as PNG chips in the EuroSAT release's layout, <class>/<index>.png (index:
    the image's row in the evaluation split): the synthetic data are the same bytes for the same settings."""
    import yaml
    from PIL import Image

    from landcover_transfer.data.synthetic import make_synthetic

    spec = yaml.safe_load(TINY_CONFIG.read_text())["data"]["synthetic"]
    dataset = make_synthetic(spec["train_per_class"], spec["val_per_class"], seed=spec["seed"])
    for index, (image, label) in enumerate(zip(dataset.x_val, dataset.y_val, strict=True)):
        path = folder / dataset.class_names[label] / f"{index:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)


@pytest.fixture(scope="session")
def run_snakemake():
    """The function `run_snakemake(workdir, *args, timeout=600)` -> CompletedProcess."""
    return _run_snakemake


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The working directory of one complete run of TINY_RUN_CONFIGS (once per test session).

    Tests must not change it; copy it (shutil.copytree) to modify results.
    """
    workdir = tmp_path_factory.mktemp("tiny_run")
    write_evaluation_chips(workdir / TINY_RUN_CHIPS)
    # The timeout only catches a hang: ~5 min beside the SLURM tests' jobs (make test). Two `gpu` tokens: two
    # TensorFlow jobs at once on the 2 cores, which the SLURM tests leave idle while they wait on the scheduler.
    try:
        result = _run_snakemake(workdir, "-j4", "--logger", "landcover", "--resources", "gpu=2", "--configfile",
                                *TINY_RUN_CONFIGS, timeout=2700)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"tiny workflow run still running after {error.timeout} s:\n{str(error.stdout)[-6000:]}",
                    pytrace=False)
    (tmp_path_factory.getbasetemp() / "tiny_run.out").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        pytest.fail(f"tiny workflow run failed (exit {result.returncode}):\n"
                    f"{(result.stdout + result.stderr)[-6000:]}", pytrace=False)
    return workdir
