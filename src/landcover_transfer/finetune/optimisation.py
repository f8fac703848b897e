"""What a phase optimises with: its learning-rate schedule, optimizer and loss."""

from __future__ import annotations

import logging

import keras

from landcover_transfer.workflow.errors import ConfigError

log = logging.getLogger(__name__)

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
