"""A TensorBoard log per fine-tuning variant (`logs/tensorboard/<arch>/<strategy>/<aug>/seed<n>/`), to follow a long
training live: `tensorboard --logdir logs/tensorboard`.

The log always agrees with the variant's resume state, whatever kills the job. Keras's TensorBoard callback
buffers its events and writes an epoch only after the resume state has recorded it (it comes after
`SaveResumeState` in the callback list), so a killed job can leave an epoch out of the log but never one that the
state does not have. When a job starts (a resumed training, or a finished one rebuilding its outputs), it owns the
variant (`resume.claim`) and rewrites the log from the state's history with the tags Keras uses, then the callback
appends the epochs it trains: no epoch is lost and none appears twice. A new training definition (the state is
discarded) starts an empty log.

Not part of the training definition (`training_definition`): logging does not change what is trained.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Sequence

import keras
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

# History columns that are not metrics of an epoch (its number, its duration)
_NOT_METRICS = ("epoch", "seconds")


def tensorboard_callbacks(log_dir: str | Path, history: Sequence[dict]) -> list[keras.callbacks.Callback]:
    """Keras's TensorBoard callback for `log_dir`, after the log there is rewritten from `history` (the resume
    state's rows: epoch, accuracy, loss, val_accuracy, ...). Call it only while owning the variant's resume folder:
    the log of a variant has one writer."""
    log_dir = Path(log_dir)
    shutil.rmtree(log_dir, ignore_errors=True)
    replay_history(log_dir, history)
    # No graph: it would be written again at every phase's fit, and the model is a keras.applications base.
    return [keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False)]


def replay_history(log_dir: str | Path, history: Sequence[dict]) -> None:
    """Write recorded epochs as Keras's callback does: `epoch_<metric>` at step `epoch`, training metrics (and the
    learning rate) under train/, `val_` metrics without the prefix under validation/.

    With TensorBoard's own event writer, not TensorFlow's: a TensorFlow op here would start TensorFlow's runtime
    before the training sets its threads (`training.configure_runtime`), which then fails.
    """
    if not history:
        return
    writers = {split: EventFileWriter(str(Path(log_dir) / split)) for split in ("train", "validation")}
    for row in history:
        for key, value in row.items():
            if key in _NOT_METRICS:
                continue
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            writers[split].add_event(event_pb2.Event(wall_time=time.time(), step=int(row["epoch"]),
                                                     summary=_scalar(f"epoch_{name}", float(value))))
    for writer in writers.values():
        writer.close()


def _scalar(tag: str, value: float) -> summary_pb2.Summary:
    """A scalar as tf.summary.scalar writes it: a float32 tensor of the "scalars" plugin."""
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[value],
                                    tensor_shape=tensor_shape_pb2.TensorShapeProto())
    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=metadata)])
