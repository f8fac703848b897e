"""Fine-tuning one grid variant: tf.data input with Keras augmentation layers, phases of unfreezing,
the study's callbacks, resumable after a kill at any moment (`resume.py`), evaluation on images no choice has seen.

A strategy is a list of phases; each phase unfreezes the last `blocks` configured blocks, recompiles
and trains with its own learning rate and schedule. Epoch numbers are global across phases, so one
history and one best checkpoint describe the whole run. Early stopping is per phase: each phase has its
own `PhaseEarlyStopping`, whose count is restored from that phase's saved history after a resume, and
it ends only its phase (the next phase still starts at its first epoch).
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from landcover_transfer.finetune.adversarial_training import split_adversarial, with_adversarial_training
from landcover_transfer.finetune.callbacks import (
    PhaseEarlyStopping,
    SaveResumeState,
    best_row,
    monitor_mode,
    resumed_count,
)
from landcover_transfer.finetune.models import build_finetune_model, set_trainable_blocks
from landcover_transfer.finetune.optimisation import build_loss, build_optimizer, learning_rate_at
from landcover_transfer.finetune.phases import phase_plan
from landcover_transfer.finetune.pipeline import build_augmentation, evaluation_dataset, make_dataset
from landcover_transfer.finetune.resume import ResumeFolder
from landcover_transfer.workflow.atomic_files import atomic_path
from landcover_transfer.workflow.config import batch_size_for

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- one variant

def configure_runtime(training: dict, threads: int | None) -> dict:
    """Threads, deterministic kernels, mixed precision and XLA. `auto` means on when a GPU is present
    (XLA slowed CPU training ~4x)."""
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    has_gpu = bool(tf.config.list_physical_devices("GPU"))

    def resolve(value):
        return has_gpu if value == "auto" else bool(value)

    if training.get("deterministic", True):
        # Same seed, same numbers: without it two CPU runs of the demo differed by up to 0.05 accuracy.
        tf.config.experimental.enable_op_determinism()
    mixed = resolve(training.get("mixed_precision", "auto"))
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    return {"gpu": has_gpu, "mixed_precision": mixed, "jit_compile": resolve(training.get("jit_compile", "auto"))}


def distribution(gpus: int) -> tf.distribute.Strategy:
    """The job's `gpus` GPUs as one `MirroredStrategy`: every batch of `training.batch_size` images (the global
    batch) is split among them, so they train what one device would (the same batches and learning rates), faster.
    One GPU or none: TensorFlow's default strategy."""
    if gpus <= 1:
        return tf.distribute.get_strategy()
    devices = [device.name for device in tf.config.list_logical_devices("GPU")]
    if len(devices) < gpus:
        raise RuntimeError(f"the job requested {gpus} GPUs and TensorFlow sees {len(devices)} "
                           f"({', '.join(devices) or 'none'}): check the job's CUDA_VISIBLE_DEVICES and drivers")
    return tf.distribute.MirroredStrategy(devices[:gpus])


def image_size_for(arch: dict, training: dict) -> int:
    """The resolution a base sees: the architecture's own `image_size`, else the training one."""
    return arch.get("image_size", training["image_size"])


def fresh_state() -> dict:
    """Resume state before the first epoch: phase index into the plan, next global epoch, history, best."""
    return {"phase": 0, "next_epoch": 0, "history": [], "best_value": None, "best_epoch": None, "stopped_by": []}


def train_variant(
    arrays: dict,
    *,
    arch: dict,
    strategy: dict,
    augmentation: list[dict],
    training: dict,
    schedules: dict,
    head: dict,
    n_classes: int,
    weights: str | None,
    resume: ResumeFolder,
    threads: int | None = None,
    extra_callbacks: list | None = None,
    distribute: tf.distribute.Strategy | None = None,
) -> tuple[keras.Model, pd.DataFrame, dict]:
    """Train one variant; returns (best model, history, facts for metrics.json).

    `arrays` holds x_fit, y_fit, x_selection, y_selection (see `Splits.arrays`). `resume` is the owned
    resume folder (`resume.claim`, after `adopt`): training continues after its last finished epoch. `distribute`:
    the devices that share each batch (`distribution`); by default TensorFlow's one device.
    """
    runtime = configure_runtime(training, threads)
    with (distribute or tf.distribute.get_strategy()).scope():
        return _train_variant(arrays, arch, strategy, augmentation, training, schedules, head, n_classes, weights,
                              resume, extra_callbacks or [], runtime)


def _train_variant(arrays, arch, strategy, augmentation, training, schedules, head, n_classes, weights, resume,
                   extra_callbacks, runtime):
    """train_variant inside its distribution's scope."""
    seed = training["seed"]
    keras.utils.set_random_seed(seed)
    augmentation, adversarial = split_adversarial(augmentation)
    model, base = build_finetune_model(arch, head, n_classes, arrays["x_fit"].shape[1],
                                       image_size_for(arch, training), weights)
    model = with_adversarial_training(model, adversarial)
    plan = phase_plan(strategy["phases"], training["epochs"])
    set_trainable_blocks(base, arch["blocks"], max(phase["blocks"] for phase in plan))  # every prefix exists
    inference_view = keras.Model(model.inputs, model.outputs, name=model.name)  # the layers, no optimizer
    state = restore_state(model, resume, plan)
    batch_size = batch_size_for(strategy, training)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    datasets = {
        "train": make_dataset(arrays["x_fit"], arrays["y_fit"], batch_size, shuffle=True, seed=seed,
                              augmentation=build_augmentation(augmentation, seed), replicas=replicas),
        "selection": evaluation_dataset(arrays["x_selection"], arrays["y_selection"], batch_size, replicas),
    }
    for number, phase in enumerate(plan):
        trainable_params = compile_phase(model, base, arch, phase, runtime)
        if number < state["phase"]:
            continue
        stopped_early = train_phase(model, phase, datasets, state, resume, training, schedules, inference_view,
                                    extra_callbacks)
        state.update(phase=number + 1, stopped_by=[*state["stopped_by"], stopped_early])
        if number + 1 < len(plan):
            state["next_epoch"] = plan[number + 1]["start"]
        resume.save_state(state, {})
    if "best" in resume.roles():
        inference_view.load_weights(resume.file("best"))
    history = pd.DataFrame(state["history"])
    facts = {
        **history_facts(history, training["early_stopping"]["monitor"]),
        "stopped_by": "early_stopping" if any(state["stopped_by"]) else "completed",
        "wall_time_s": round(float(history["seconds"].sum()), 1),  # training epochs, all attempts together
        "trainable_params": trainable_params,
        **{key: runtime[key] for key in ("gpu", "mixed_precision", "jit_compile")},
    }
    check_complete(facts, plan)
    return model, history, facts


def restore_state(model: keras.Model, resume: ResumeFolder, plan: list[dict]) -> dict:
    """The saved state (or a fresh one); an unfinished run's last weights loaded into `model`'s layers."""
    state = resume.load_state() or fresh_state()
    if state["phase"] == len(plan):
        log.info("training already finished for this definition (%s): outputs are rebuilt from its best "
                 "weights; delete that folder to train again", resume.path)
    elif state["history"]:
        log.info("resuming at epoch %d (phase %d) from %s", state["next_epoch"] + 1,
                 plan[state["phase"]]["index"] + 1, resume.path)
        model.load_weights(resume.file("weights"))  # layers only: the model has no optimizer yet
    return state


def compile_phase(model: keras.Model, base: keras.Model, arch: dict, phase: dict, runtime: dict) -> int:
    """Unfreeze the phase's blocks and recompile (Keras reads `trainable` at compile time); returns the
    number of trainable parameters."""
    trainable_layers = set_trainable_blocks(base, arch["blocks"], phase["blocks"])
    # weighted: the selection images padded for several devices (pipeline.evaluation_dataset) count 0
    model.compile(optimizer=build_optimizer(phase), loss=build_loss(phase), weighted_metrics=["accuracy"],
                  jit_compile=runtime["jit_compile"])
    trainable_params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    log.info("phase %d: epochs %d-%d, unfrozen blocks %d (%d layers), %d trainable parameters",
             phase["index"] + 1, phase["start"] + 1, phase["end"], phase["blocks"], len(trainable_layers),
             trainable_params)
    return trainable_params


def train_phase(model, phase, datasets, state, resume, training, schedules, inference_view, extra_callbacks) -> bool:
    """Fit one phase from `state["next_epoch"]`; returns whether early stopping ended it."""
    monitor, patience = training["early_stopping"]["monitor"], training["early_stopping"]["patience"]
    mode = monitor_mode(monitor)
    phase_history = [row for row in state["history"] if row["epoch"] >= phase["start"]]
    if phase_history and resumed_count(phase_history, monitor, mode)[2] >= patience:
        return True  # stopped early just before the kill: nothing left to train in this phase
    if state["next_epoch"] > phase["start"]:
        model.optimizer.build(model.trainable_variables)
        model.load_weights(resume.file("weights"))  # again, now with the phase's optimizer state
    schedule = schedules[phase["schedule"]]
    early_stopping = PhaseEarlyStopping(phase_history, monitor=monitor, mode=mode, patience=patience)
    callbacks = [
        keras.callbacks.LearningRateScheduler(
            lambda epoch, _: learning_rate_at(epoch - phase["start"], phase["learning_rate"], schedule,
                                              phase["end"] - phase["start"]), verbose=1),
        early_stopping,
        SaveResumeState(resume, state, monitor, mode, inference_view),
        *extra_callbacks,
    ]
    if state["next_epoch"] < phase["end"]:
        # shuffle=False: the tf.data pipeline shuffles; Keras ignores its own flag for a Dataset, with a warning.
        model.fit(datasets["train"], validation_data=datasets["selection"], initial_epoch=state["next_epoch"],
                  epochs=phase["end"], callbacks=callbacks, verbose=2, shuffle=False)
    return early_stopping.stopped_epoch > 0


def check_complete(facts: dict, plan: list[dict]) -> None:
    """A run that was not stopped early has trained every planned epoch exactly once."""
    planned = sum(phase["end"] - phase["start"] for phase in plan)
    if facts["stopped_by"] == "completed" and facts["epochs_run"] != planned:
        raise RuntimeError(f"training recorded {facts['epochs_run']} epochs of {planned} planned without early "
                           "stopping: resume state is inconsistent")


def history_facts(history: pd.DataFrame, monitor: str = "val_accuracy") -> dict:
    """The study's Table 5 columns from a history: accuracies at the best and at the last epoch."""
    best = best_row(history[monitor], monitor_mode(monitor))
    return {
        "train_accuracy": float(history["accuracy"].iloc[best]),
        "val_accuracy": float(history["val_accuracy"].iloc[best]),
        "selection_accuracy": float(history["val_accuracy"].iloc[best]),
        "best_epoch": int(history["epoch"].iloc[best]) + 1,
        "final_train_accuracy": float(history["accuracy"].iloc[-1]),
        "final_val_accuracy": float(history["val_accuracy"].iloc[-1]),
        "epochs_run": int(len(history)),
    }


def predict_proba(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    return model.predict(make_dataset(x, np.zeros(len(x)), batch_size, shuffle=False, seed=0), verbose=0)


def save_inference_model(model: keras.Model, path: str | Path) -> None:
    """The best model without optimizer state (a fresh, uncompiled Model over the same layers)."""
    with atomic_path(path) as tmp:
        keras.Model(model.inputs, model.outputs, name=model.name).save(tmp)


# ---------------------------------------------------------------- the software a training ran on (its fingerprint)

def training_software() -> dict[str, str]:
    return {"tensorflow": tf.__version__, "keras": keras.__version__}
