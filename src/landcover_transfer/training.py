"""Fine-tuning one grid variant: tf.data input with Keras augmentation layers, phases of unfreezing,
the study's callbacks, resumable after a kill (BackupAndRestore), honest evaluation.

A strategy is a list of phases; each phase unfreezes the last `blocks` configured blocks, recompiles
and trains with its own learning rate and schedule. Epoch numbers are global across phases, so one
history, one best checkpoint and one EarlyStopping criterion describe the whole run.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import h5py
import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from .errors import ConfigError
from .io import atomic_path
from .models import build_finetune_model, set_trainable_blocks
from .robustness import split_adversarial, with_adversarial_training

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- input pipeline

def build_augmentation(layers: list[dict], seed: int) -> keras.Sequential | None:
    """Keras preprocessing layers from config entries like `{RandomFlip: {mode: horizontal}}`."""
    if not layers:
        return None
    built = []
    for entry in layers:
        (name, kwargs), = entry.items()
        layer_class = getattr(keras.layers, name, None)
        if layer_class is None:
            raise ConfigError(f"augmentation layer '{name}' is not a keras.layers class")
        try:
            built.append(layer_class(**(kwargs or {}), seed=seed))
        except (TypeError, ValueError) as error:
            raise ConfigError(f"augmentation layer {name} {kwargs}: {error}") from None
    return keras.Sequential(built, name="augmentation")


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool, seed: int,
                 augmentation: keras.Sequential | None = None) -> tf.data.Dataset:
    """Batches of (float32 0..255 pixels, integer labels); augmentation runs on the fly in the pipeline."""
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype("int32")))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda images, labels: (tf.cast(images, tf.float32), labels),
                                  num_parallel_calls=tf.data.AUTOTUNE)
    if augmentation is not None:
        ds = ds.map(lambda images, labels: (augmentation(images, training=True), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- schedules and phases

def learning_rate_at(epoch: int, base_lr: float, schedule: dict) -> float:
    """Learning rate at an epoch counted from the start of its phase (a pure function, so a resumed run
    gets the same rate as an uninterrupted one).

    `constant`; `hold_then_decay` (the study's: constant for `hold_epochs`, then x`factor` per epoch);
    `step` (x`factor` every `every` epochs: the progressive strategy's decay).
    """
    kind = schedule["type"]
    if kind == "constant":
        return base_lr
    if kind == "hold_then_decay":
        return base_lr * schedule["factor"] ** max(0, epoch - schedule["hold_epochs"] + 1)
    if kind == "step":
        return base_lr * schedule["factor"] ** (epoch // schedule["every"])
    raise ConfigError(f"unknown learning-rate schedule type '{kind}'")


def phase_plan(phases: list[dict], total_epochs: int) -> list[dict]:
    """Global [start, end) epochs per phase; a phase without `epochs` takes what is left of `total_epochs`."""
    plan, start = [], 0
    for index, phase in enumerate(phases):
        length = phase.get("epochs") or (total_epochs - start)
        end = min(start + length, total_epochs)
        if end > start:
            plan.append({**phase, "index": index, "start": start, "end": end})
        start = end
    return plan


class PhaseLearningRate(keras.callbacks.Callback):
    """Sets the optimizer's learning rate at each epoch start from `learning_rate_at` (phase-relative)."""

    def __init__(self, phase: dict, schedules: dict):
        super().__init__()
        self.phase = phase
        self.schedule = schedules[phase["schedule"]]

    def on_epoch_begin(self, epoch, logs=None):
        lr = learning_rate_at(epoch - self.phase["start"], self.phase["learning_rate"], self.schedule)
        self.model.optimizer.learning_rate = lr
        log.info("epoch %d: phase %d, learning rate %.3g", epoch + 1, self.phase["index"] + 1, lr)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class StopAfterEpoch(keras.callbacks.Callback):
    """Simulates a killed job (tests): raises after epoch `stop_epoch` (1-based) has been backed up."""

    def __init__(self, stop_epoch: int):
        super().__init__()
        self.stop_epoch = stop_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.stop_epoch:
            raise KeyboardInterrupt(f"simulated kill after epoch {self.stop_epoch}")


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


def image_size_for(arch: dict, training: dict) -> int:
    """The resolution a base sees: the architecture's own `image_size`, else the training one."""
    return arch.get("image_size", training["image_size"])


def history_best(history: pd.DataFrame, monitor: str) -> float | None:
    return float(history[monitor].max()) if len(history) and monitor in history else None


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
    workdir: str | Path,
    threads: int | None = None,
    extra_callbacks: list | None = None,
) -> tuple[keras.Model, pd.DataFrame, dict]:
    """Train one variant; returns (best model, history, facts for metrics.json).

    `arrays` holds x_fit, y_fit, x_selection, y_selection (see `Splits.arrays`). `workdir` keeps the
    resumable state (per-phase backups, finished-phase weights, the best checkpoint, the CSV history);
    rerunning with the same workdir continues after the last finished epoch.
    """
    runtime = configure_runtime(training, threads)
    seed = training["seed"]
    keras.utils.set_random_seed(seed)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    monitor = training["early_stopping"]["monitor"]
    data_size = arrays["x_fit"].shape[1]

    augmentation, adversarial = split_adversarial(augmentation)
    model, base = build_finetune_model(arch, head, n_classes, data_size, image_size_for(arch, training), weights)
    model = with_adversarial_training(model, adversarial)
    train_ds = make_dataset(arrays["x_fit"], arrays["y_fit"], training["batch_size"], shuffle=True, seed=seed,
                            augmentation=build_augmentation(augmentation, seed))
    selection_ds = make_dataset(arrays["x_selection"], arrays["y_selection"], training["batch_size"],
                                shuffle=False, seed=seed)
    history_path = workdir / "history.csv"
    best_path = workdir / "best.weights.h5"
    started = time.time()
    trainable_params = 0

    for phase in phase_plan(strategy["phases"], training["epochs"]):
        done_path = workdir / f"phase{phase['index'] + 1}.weights.h5"
        trainable_layers = set_trainable_blocks(base, arch["blocks"], phase["blocks"])
        model.compile(
            optimizer=keras.optimizers.Adam(phase["learning_rate"]),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=runtime["jit_compile"],
        )
        trainable_params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        if done_path.exists():
            model.load_weights(done_path)
            log.info("phase %d already finished: loaded %s", phase["index"] + 1, done_path)
            continue
        log.info("phase %d: epochs %d-%d, unfrozen blocks %d (%d layers), %d trainable parameters",
                 phase["index"] + 1, phase["start"] + 1, phase["end"], phase["blocks"],
                 len(trainable_layers), trainable_params)
        history = read_history(history_path) if history_path.exists() else pd.DataFrame()
        if best_path.exists() and not readable_weights(best_path):
            # killed while ModelCheckpoint wrote it: the best so far is lost, the next epoch sets a new one
            log.warning("best checkpoint %s is unreadable (killed while written): starting it afresh", best_path)
            best_path.unlink()
            history = pd.DataFrame()
        callbacks = [
            PhaseLearningRate(phase, schedules),
            keras.callbacks.ModelCheckpoint(
                str(best_path), monitor=monitor, mode="max", save_best_only=True, save_weights_only=True,
                initial_value_threshold=history_best(history, monitor),
            ),
            keras.callbacks.EarlyStopping(monitor=monitor, mode="max",
                                          patience=training["early_stopping"]["patience"]),
            keras.callbacks.CSVLogger(str(history_path), append=True),
            # Restores weights, optimizer state and epoch of a killed run of this phase. After the
            # CSVLogger: an epoch counts as finished only once its history row is written (a kill in
            # between repeats the epoch; read_history keeps the last row of each epoch).
            # double_checkpoint: a kill while the backup is written leaves the previous one to resume from.
            keras.callbacks.BackupAndRestore(str(workdir / f"backup_phase{phase['index'] + 1}"),
                                             double_checkpoint=True),
            *(extra_callbacks or []),
        ]
        # BackupAndRestore resumes by setting model._initial_epoch, which Keras never clears: a phase-1
        # resume epoch would otherwise override phase 2's initial_epoch (re-running phase 1's epochs).
        model._initial_epoch = None
        model.fit(train_ds, validation_data=selection_ds, initial_epoch=phase["start"], epochs=phase["end"],
                  callbacks=callbacks, verbose=2)
        model.save_weights(done_path)

    history = read_history(history_path)
    if best_path.exists():
        model.load_weights(best_path)
    facts = {
        **history_facts(history, monitor),
        "wall_time_s": round(time.time() - started, 1),
        "trainable_params": trainable_params,
        **{key: runtime[key] for key in ("gpu", "mixed_precision", "jit_compile")},
    }
    return model, history, facts


def readable_weights(path: str | Path) -> bool:
    try:
        with h5py.File(path, "r"):
            return True
    except OSError:
        return False


def read_history(path: str | Path) -> pd.DataFrame:
    """The CSV history, one row per epoch (the last one where a killed epoch was repeated)."""
    history = pd.read_csv(path)
    return history.drop_duplicates(subset="epoch", keep="last").reset_index(drop=True)


def history_facts(history: pd.DataFrame, monitor: str = "val_accuracy") -> dict:
    """The study's Table 5 columns from a history: accuracies at the best and at the last epoch."""
    best = int(history[monitor].to_numpy().argmax())
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


def clean_workdir(workdir: str | Path) -> None:
    """Resume state is only needed until the variant's outputs exist."""
    shutil.rmtree(workdir, ignore_errors=True)



# ---------------------------------------------------------------- stand-in pre-training (weights: null)

def _nested_layers(layer):
    yield layer
    for inner in getattr(layer, "layers", []):
        yield from _nested_layers(inner)


def recalibrate_batchnorm(model: keras.Model, images: np.ndarray) -> None:
    """Set every BatchNormalization layer's moving statistics from one batch of `images`.

    A short training run moves the moving averages (momentum 0.99) only a few percent away from their
    initial 0/1, so the network would behave differently in inference mode than it did in training.
    """
    batchnorms = [layer for layer in _nested_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in batchnorms]
    for layer in batchnorms:
        layer.momentum = 0.0
    model(tf.cast(images, tf.float32), training=True)
    for layer, momentum in zip(batchnorms, momenta):
        layer.momentum = momentum


def pretrain_stand_in(arrays: dict, *, arch: dict, training: dict, pretrain: dict, n_classes: int,
                      path: str | Path, threads: int | None = None) -> dict:
    """Train the whole base from random initialisation on the fit split and save its weights.

    With `weights: null` there is nothing to transfer: a frozen random base stays at chance (measured:
    MobileNetV2 at 11.3% on 9 classes). This stand-in for ImageNet pre-training gives the fine-tuning
    strategies frozen features worth keeping, so the demo exercises what the study does. Its numbers
    say nothing about ImageNet transfer.
    """
    from .models import build_base, inputs_to_base

    runtime = configure_runtime(training, threads)
    keras.utils.set_random_seed(training["seed"])
    data_size, image_size = arrays["x_fit"].shape[1], image_size_for(arch, training)
    base = build_base(arch, image_size, None)
    inputs, x = inputs_to_base(arch, data_size, image_size)
    x = keras.layers.GlobalAveragePooling2D()(base(x))
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    # VGG16 has no BatchNormalization: from scratch it needs a smaller rate than the others.
    learning_rate = arch.get("pretrain_learning_rate", pretrain["learning_rate"])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=runtime["jit_compile"])
    seed = training["seed"]
    history = model.fit(
        make_dataset(arrays["x_fit"], arrays["y_fit"], training["batch_size"], shuffle=True, seed=seed),
        validation_data=make_dataset(arrays["x_selection"], arrays["y_selection"], training["batch_size"],
                                     shuffle=False, seed=seed),
        epochs=pretrain["epochs"], verbose=2,
    )
    recalibrate_batchnorm(model, arrays["x_fit"][: pretrain["batchnorm_images"]])
    selection_accuracy = model.evaluate(
        make_dataset(arrays["x_selection"], arrays["y_selection"], training["batch_size"], shuffle=False,
                     seed=seed), verbose=0, return_dict=True)["accuracy"]
    with atomic_path(path) as tmp:
        base.save_weights(tmp)
    return {"epochs": pretrain["epochs"], "final_train_accuracy": float(history.history["accuracy"][-1]),
            "selection_accuracy_inference_mode": float(selection_accuracy)}
