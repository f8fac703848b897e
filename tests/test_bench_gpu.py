"""bench/gpu.sh runs on a CPU in its tiny mode (its own module, so pytest-xdist runs it beside the tiny bench run)."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from test_bench import REPO, TINY, run_checked


@pytest.mark.slow
def test_gpu_script_runs_on_a_cpu_in_tiny_mode_and_prints_the_projection(tmp_path):
    out = tmp_path / "gpu"
    done = run_checked(["bash", str(REPO / "bench" / "gpu.sh"), "--size", "tiny", "--python", sys.executable,
                        "--out", out, "--docs", tmp_path / "benchmarks-gpu.md", "--", "--sections", "study",
                        "--configfile", TINY, "--threads", "2"])
    study = pd.read_csv(out / "study.csv")
    assert list(study["variant"]) == ["mobilenet_v2/last_block/standard"]
    assert (study["images_per_s"] > 0).all() and (study["projected_hours"] > 0).all()
    assert "sees GPUs: none (CPU figures)" in done.stdout
    assert "mobilenet_v2/last_block/standard: " in done.stdout
    assert "projected full study on this machine: " in done.stdout
    assert "## 7. Full-size variants and the projected study" in (tmp_path / "benchmarks-gpu.md").read_text()
