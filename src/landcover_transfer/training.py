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
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tensorflow.python.framework.config import is_op_determinism_enabled  # no public twin of enable_op_determinism

from .adversarial_training import split_adversarial, with_adversarial_training
from .atomic_files import atomic_path
from .config import batch_size_for
from .errors import ConfigError
from .models import build_finetune_model, set_trainable_blocks
from .phases import phase_plan
from .resume import ResumeFolder

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- input pipeline

@keras.saving.register_keras_serializable(package="landcover_transfer")
class RandomDihedral(keras.layers.RandomFlip):
    """Each square image in one of its 8 orientations (4 rotations by 90 degrees, each mirrored or not), uniformly
    at random: a transpose, a left-right and an up-down flip, each with probability 1/2, independently. Exact
    (no interpolation, no fill). Keras has no 90-degree rotation layer, and its RandomFlip in mode
    horizontal_and_vertical flips both axes or neither (2 of the 8 orientations)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(mode="horizontal_and_vertical", seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("mode")
        return config

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        shape = self.backend.core.shape(data["images"] if isinstance(data, dict) else data)
        draws = self.backend.random.uniform((3, shape[0], 1, 1, 1), seed=seed or self._get_seed_generator(
            self.backend._backend))
        return {"flips": self.backend.numpy.less(draws, 0.5), "input_shape": shape}

    def transform_images(self, images, transformation, training=True):
        images = self.backend.cast(images, self.compute_dtype)
        if not training or transformation is None:
            return images
        transpose, left_right, up_down = (transformation["flips"][i] for i in range(3))
        numpy = self.backend.numpy
        images = numpy.where(transpose, numpy.transpose(images, (0, 2, 1, 3)), images)  # square images only
        images = numpy.where(left_right, numpy.flip(images, axis=2), images)
        return numpy.where(up_down, numpy.flip(images, axis=1), images)


#: Augmentation layers of this project, usable in a policy by name beside those of keras.layers.
AUGMENTATION_LAYERS = {"RandomDihedral": RandomDihedral}


def build_augmentation(layers: list[dict], seed: int) -> keras.Sequential | None:
    """Keras preprocessing layers from config entries like `{RandomFlip: {mode: horizontal}}`."""
    if not layers:
        return None
    built = []
    for entry in layers:
        (name, kwargs), = entry.items()
        layer_class = AUGMENTATION_LAYERS.get(name) or getattr(keras.layers, name, None)
        if layer_class is None:
            raise ConfigError(f"augmentation layer '{name}' is neither a keras.layers class nor one of "
                              f"{', '.join(AUGMENTATION_LAYERS)}")
        try:
            built.append(layer_class(**(kwargs or {}), seed=seed))
        except (TypeError, ValueError, NotImplementedError) as error:  # Keras: NotImplementedError for a bad fill_mode
            raise ConfigError(f"augmentation layer {name} {kwargs}: {error}") from None
    return keras.Sequential(built, name="augmentation")


def probe_augmentations(policies: dict[str, list[dict]], seed: int = 0, draws: int = 8) -> list[str]:
    """Problems of augmentation policies, found by building each layer and applying it to a probe batch.

    A layer that builds but never changes an image is misconfigured (e.g. `RandomFlip: {mode: diagonal}`
    is accepted by Keras and then flips nothing), so each layer must change the probe in `draws` tries.
    """
    probe = np.random.default_rng(seed).uniform(0, 255, (draws, 16, 16, 3)).astype("float32")
    problems = []
    for name, policy in policies.items():
        try:
            layers, _ = split_adversarial(policy)  # adversarial training is checked, not probed: it needs a model
        except ConfigError as error:
            problems.append(f"augmentations.{name}: {error}")
            continue
        for entry in layers:
            (layer_name, kwargs), = entry.items()
            try:
                layer = build_augmentation([entry], seed)
                changed = not np.allclose(keras.ops.convert_to_numpy(layer(probe, training=True)), probe)
            except (ConfigError, TypeError, ValueError, NotImplementedError) as error:
                problems.append(f"augmentations.{name}: {layer_name} {kwargs}: {error}")
                continue
            if not changed:
                problems.append(f"augmentations.{name}: {layer_name} {kwargs} left every image unchanged: "
                                f"check its arguments against keras.layers.{layer_name}")
    return problems


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool, seed: int,
                 augmentation: keras.Sequential | None = None) -> tf.data.Dataset:
    """Batches of (float32 0..255 pixels, integer labels); augmentation runs on the fly in the pipeline."""
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype("int32")))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)

    def to_model_input(images, labels):
        images = tf.cast(images, tf.float32)
        return (images if augmentation is None else augmentation(images, training=True)), labels

    # Under op determinism (training.deterministic) tf.data runs a pipeline with random ops serially anyway;
    # asked for parallel maps, it rewrites them and logs an error-level line (E0000 ... use_unbounded_threadpool).
    serial = augmentation is not None and is_op_determinism_enabled()
    ds = ds.batch(batch_size).map(to_model_input, num_parallel_calls=None if serial else tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- schedules and phases

def learning_rate_at(epoch: int, base_lr: float, schedule: dict, phase_epochs: int) -> float:
    """Learning rate at an epoch counted from the start of its phase of `phase_epochs` epochs (a pure function,
    so a resumed run gets the same rate as an uninterrupted one).

    `constant`; `hold_then_decay` (the study's: constant for `hold_epochs`, then x`factor` per epoch);
    `step` (x`factor` every `every` epochs: the progressive strategy's decay); `cosine` (Keras' CosineDecay
    over the phase: a linear warm-up from `warmup_from` x the rate for `warmup_epochs`, then a cosine decay to
    `alpha` x the rate at the phase's end).
    """
    kind = schedule["type"]
    if kind == "constant":
        return base_lr
    if kind == "hold_then_decay":
        return base_lr * schedule["factor"] ** max(0, epoch - schedule["hold_epochs"] + 1)
    if kind == "step":
        return base_lr * schedule["factor"] ** (epoch // schedule["every"])
    if kind == "cosine":
        warmup = schedule.get("warmup_epochs", 0)
        decay = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=base_lr * schedule.get("warmup_from", 1.0) if warmup else base_lr,
            decay_steps=max(1, phase_epochs - warmup), alpha=schedule.get("alpha", 0.0),
            warmup_target=base_lr if warmup else None, warmup_steps=warmup)
        return float(keras.ops.convert_to_numpy(decay(epoch)))
    raise ConfigError(f"unknown learning-rate schedule type '{kind}'")


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
) -> tuple[keras.Model, pd.DataFrame, dict]:
    """Train one variant; returns (best model, history, facts for metrics.json).

    `arrays` holds x_fit, y_fit, x_selection, y_selection (see `Splits.arrays`). `resume` is the owned
    resume folder (`resume.claim`, after `adopt`): training continues after its last finished epoch.
    """
    runtime = configure_runtime(training, threads)
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
    datasets = {
        "train": make_dataset(arrays["x_fit"], arrays["y_fit"], batch_size, shuffle=True, seed=seed,
                              augmentation=build_augmentation(augmentation, seed)),
        "selection": make_dataset(arrays["x_selection"], arrays["y_selection"], batch_size, shuffle=False, seed=seed),
    }
    for number, phase in enumerate(plan):
        trainable_params = compile_phase(model, base, arch, phase, runtime)
        if number < state["phase"]:
            continue
        stopped_early = train_phase(model, phase, datasets, state, resume, training, schedules, inference_view,
                                    extra_callbacks or [])
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
    model.compile(optimizer=build_optimizer(phase), loss=build_loss(phase), metrics=["accuracy"],
                  jit_compile=runtime["jit_compile"])
    trainable_params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    log.info("phase %d: epochs %d-%d, unfrozen blocks %d (%d layers), %d trainable parameters",
             phase["index"] + 1, phase["start"] + 1, phase["end"], phase["blocks"], len(trainable_layers),
             trainable_params)
    return trainable_params


def build_optimizer(phase: dict) -> keras.optimizers.Optimizer:
    """The phase's optimizer at its learning rate: `optimizer: {AdamW: {weight_decay: 0.05}}` names a
    keras.optimizers class and its arguments; without one, Adam (the study's)."""
    (name, kwargs), = (phase.get("optimizer") or {"Adam": {}}).items()
    optimizer_class = getattr(keras.optimizers, name, None)
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, keras.optimizers.Optimizer)):
        raise ConfigError(f"optimizer '{name}' is not a keras.optimizers class (e.g. Adam, AdamW, SGD)")
    try:
        return optimizer_class(learning_rate=phase["learning_rate"], **(kwargs or {}))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"optimizer {name} {kwargs}: {error}") from None


def build_loss(phase: dict):
    """Cross-entropy on integer labels; with `label_smoothing` > 0 (Keras has it for one-hot labels only) the
    labels are one-hot encoded inside the loss, so the data pipeline and the accuracy metric stay as they are."""
    smoothing = phase.get("label_smoothing", 0.0)
    if not smoothing:
        return "sparse_categorical_crossentropy"

    def smoothed_crossentropy(y_true, y_pred):
        labels = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), y_pred.shape[-1])
        return keras.losses.categorical_crossentropy(labels, y_pred, label_smoothing=smoothing)

    return smoothed_crossentropy


def probe_phases(strategies: dict[str, dict]) -> list[str]:
    """Problems of the strategies' optimizers, found by building each one (before any job trains)."""
    problems = []
    for name, strategy in strategies.items():
        for number, phase in enumerate(strategy["phases"], start=1):
            try:
                build_optimizer(phase)
            except ConfigError as error:
                problems.append(f"strategies.{name} phase {number}: {error}")
    return problems


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
    for layer, momentum in zip(batchnorms, momenta, strict=True):
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
        epochs=pretrain["epochs"], verbose=2, shuffle=False,  # the pipeline shuffles (see train_variant)
    )
    recalibrate_batchnorm(model, arrays["x_fit"][: pretrain["batchnorm_images"]])
    selection_accuracy = model.evaluate(
        make_dataset(arrays["x_selection"], arrays["y_selection"], training["batch_size"], shuffle=False,
                     seed=seed), verbose=0, return_dict=True)["accuracy"]
    with atomic_path(path) as tmp:
        base.save_weights(tmp)
    return {"epochs": pretrain["epochs"], "final_train_accuracy": float(history.history["accuracy"][-1]),
            "selection_accuracy_inference_mode": float(selection_accuracy)}


# ---------------------------------------------------------------- the software a training ran on (its fingerprint)

def training_software() -> dict[str, str]:
    return {"tensorflow": tf.__version__, "keras": keras.__version__}
