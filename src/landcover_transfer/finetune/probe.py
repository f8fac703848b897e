"""The grid's augmentation layers and optimizers built and tried once before any job (Snakefile's onstart).

Light to import: TensorFlow is imported only when the probe runs, and it runs only where this very probe has not
passed before (`workflow.probe_cache`).
"""

from __future__ import annotations

from pathlib import Path

from landcover_transfer.workflow.jobs import stderr_held_back
from landcover_transfer.workflow.probe_cache import probe_once

# What builds the probed layers and optimizers: this package and the attacks of adversarial training.
SOURCES = (*Path(__file__).parent.glob("*.py"), Path(__file__).parents[1] / "attacks.py")


def grid_problems(augmentations: dict[str, list[dict]], strategies: dict[str, dict]) -> list[str]:
    """Problems of the grid's augmentation policies and strategies' optimizers, one line each."""
    probed = {"augmentations": augmentations, "strategies": strategies}

    def probe() -> list[str]:
        with stderr_held_back():  # TensorFlow's start-up lines from C++, in this process
            from landcover_transfer.finetune.optimisation import probe_phases
            from landcover_transfer.finetune.pipeline import probe_augmentations

            return probe_augmentations(augmentations) + probe_phases(strategies)

    return probe_once(probed, SOURCES, probe)
