"""The TensorBoard log of a variant: Keras's tags, and after a resume every epoch exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from landcover_transfer.finetune.tensorboard_log import tensorboard_callbacks

REPO = Path(__file__).resolve().parents[1]


def steps(log_dir, split, tag) -> list[int]:
    """Every step written for `tag` under `log_dir/split`, over all event files (duplicates kept)."""
    events = []
    for path in sorted((log_dir / split).glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(path), size_guidance={"tensors": 0})
        accumulator.Reload()
        if tag in accumulator.Tags()["tensors"]:
            events += [event.step for event in accumulator.Tensors(tag)]
    return sorted(events)


def fit(callbacks, initial_epoch, epochs):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 2, 32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model.fit(x, y, validation_data=(x, y), initial_epoch=initial_epoch, epochs=epochs, verbose=0,
                     callbacks=callbacks)


@pytest.fixture(scope="module")
def history_rows():
    """What a resume state holds after 2 epochs (the rows SaveResumeState writes)."""
    logs = fit([], 0, 2).history
    return [{"epoch": epoch, **{key: values[epoch] for key, values in logs.items()}, "seconds": 0.1}
            for epoch in range(2)]


def test_a_resumed_training_logs_every_epoch_once(tmp_path, history_rows):
    log_dir = tmp_path / "tensorboard" / "arch" / "strategy" / "aug"
    # the killed first attempt had logged epoch 0 only, and one epoch past the state would be a duplicate
    fit(tensorboard_callbacks(log_dir, history_rows[:1]), 1, 3)
    # the resumed job: the state holds epochs 0 and 1; it trains epochs 2 and 3
    fit(tensorboard_callbacks(log_dir, history_rows), 2, 4)
    for split, tag in (("train", "epoch_loss"), ("train", "epoch_accuracy"), ("validation", "epoch_accuracy")):
        assert steps(log_dir, split, tag) == [0, 1, 2, 3], (split, tag)


def test_the_replay_leaves_tensorflow_s_runtime_unstarted(tmp_path):
    """A training sets TensorFlow's threads after the log is replayed: that fails once the runtime has started."""
    code = (f"from landcover_transfer.finetune.tensorboard_log import tensorboard_callbacks\n"
            f"tensorboard_callbacks({str(tmp_path)!r}, [{{'epoch': 0, 'loss': 1.0, 'val_accuracy': 0.5}}])\n"
            "import tensorflow as tf\n"
            "tf.config.threading.set_intra_op_parallelism_threads(1)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert result.returncode == 0, result.stderr[-3000:]
    assert steps(tmp_path, "validation", "epoch_accuracy") == [0]


def test_a_rebuild_of_a_finished_training_keeps_its_whole_log(tmp_path, history_rows):
    log_dir = tmp_path / "tb"
    tensorboard_callbacks(log_dir, history_rows)  # no epoch left to train: only the replay
    assert steps(log_dir, "validation", "epoch_loss") == [0, 1]
    tensorboard_callbacks(log_dir, [])  # a new training definition: an empty log
    assert not log_dir.exists() or steps(log_dir, "train", "epoch_loss") == []
