"""The callbacks of a training: early stopping per phase and the resume state saved after every epoch."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import keras
import numpy as np

from landcover_transfer.finetune.resume import ResumeFolder
from landcover_transfer.workflow.atomic_files import atomic_path

log = logging.getLogger(__name__)

def monitor_mode(monitor: str) -> str:
    """Direction of improvement of a monitored metric: losses go down, accuracies up."""
    return "min" if monitor.endswith("loss") else "max"


def best_row(values, mode: str) -> int:
    """Index of the first best value (as EarlyStopping counts it: a tie is no improvement)."""
    values = np.asarray(values, dtype=float)
    return int(values.argmin() if mode == "min" else values.argmax())


class PhaseEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping whose count continues from the phase's saved history after a resume.

    Keras starts the count afresh at every `fit`, so a resumed run would stop later than the same run
    uninterrupted. Each phase has its own count: a phase changes the rate and the unfrozen layers.
    """

    def __init__(self, phase_history: list[dict], **kwargs):
        super().__init__(**kwargs)
        self.phase_history = phase_history

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.phase_history:
            self.best, self.best_epoch, self.wait = resumed_count(self.phase_history, self.monitor, self.mode)


def resumed_count(phase_history: list[dict], monitor: str, mode: str) -> tuple[float, int, int]:
    """(best value, its epoch, epochs since it) of a phase's history, as EarlyStopping would hold them."""
    best = best_row([row[monitor] for row in phase_history], mode)
    return phase_history[best][monitor], phase_history[best]["epoch"], len(phase_history) - 1 - best


class SaveResumeState(keras.callbacks.Callback):
    """After each epoch: the weights (with optimizer state), the best weights when the monitored value
    improved, and the history row, recorded together in the resume folder's atomic state file."""

    def __init__(self, folder: ResumeFolder, state: dict, monitor: str, mode: str, inference_view: keras.Model):
        super().__init__()
        self.folder, self.state, self.monitor, self.mode = folder, state, monitor, mode
        self.inference_view = inference_view

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, **{key: float(value) for key, value in (logs or {}).items()},
               "seconds": round(time.time() - self.epoch_started, 2)}
        state = self.state
        state["history"].append(row)
        state["next_epoch"] = epoch + 1
        new_files = {"weights": self._save(self.model, f"epoch{epoch + 1:04d}")}
        if state["best_value"] is None or best_row([state["best_value"], row[self.monitor]], self.mode) == 1:
            state["best_value"], state["best_epoch"] = row[self.monitor], epoch
            new_files["best"] = self._save(self.inference_view, f"best{epoch + 1:04d}")
        self.folder.save_state(state, new_files)

    def _save(self, model: keras.Model, stem: str) -> Path:
        path = self.folder.path / f"{stem}.weights.h5"
        with atomic_path(path) as tmp:
            model.save_weights(tmp)
        return path
