"""Faults that were already handled well when issue 8 was filed, kept that way: a pickle payload in a
results file is refused without running it, and a target outside the grid (a path escaping results/)
matches no rule. (Killing Snakemake and two runs at once: tests/test_kill.py; resume faults:
tests/test_training.py; bad config and input: tests/test_config.py, tests/test_command_line.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from landcover_transfer.data.splits import Splits

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"


class Payload:
    """Unpickling this would create the file `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mknod, (self.marker,))


def test_a_pickle_payload_in_a_splits_file_is_refused_unrun(tmp_path):
    marker, path = tmp_path / "payload_ran", tmp_path / "splits.npz"
    np.savez(path, protocol=np.array([Payload(marker)], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        Splits.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("target", [
    "results/finetune/../../outside/last_block/none/metrics.json",
    "results/finetune/mobilenet_v2/last_block/../../../../outside/metrics.json",
])
def test_a_target_escaping_results_matches_no_rule(target, tmp_path, run_snakemake):
    result = run_snakemake(tmp_path, target, "-n", "--configfile", TINY_CONFIG, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "MissingRuleException" in output or "No rule to produce" in output, output[-2000:]
    assert not (tmp_path / "results").exists() and not (tmp_path.parent / "outside").exists()
