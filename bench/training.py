"""Training and feature-extraction images/s per architecture and unfrozen depth, what each augmentation policy
costs, and XLA / mixed precision on vs off (random weights and pixels; the first epoch, tracing, excluded)."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager

import keras
import numpy as np
from tensorflow.python.framework.config import is_op_determinism_enabled  # no public twin

from bench.common import summary_row
from bench.pipeline import determinism, tf_data_rate
from bench.throughput import training_throughput
from landcover_transfer.classical.features import build_extractor, extract
from landcover_transfer.finetune.adversarial_training import split_adversarial
from landcover_transfer.finetune.training import image_size_for

AUGMENTATION_TARGET = 0.10  # the share of training throughput an augmentation policy may cost


@contextmanager
def precision(mixed: bool):
    """Keras's global dtype policy for the models built inside; float32 again afterwards."""
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


class Measure:
    """Training images/s of one architecture of the config on fixed images, under one batch size and epoch count,
    with the workflow's XLA and mixed-precision settings (`runtime`, from `configure_runtime`) unless told otherwise."""

    def __init__(self, config: dict, images: np.ndarray, labels: np.ndarray, batch_size: int, epochs: int,
                 runtime: dict):
        self.config, self.images, self.labels = config, images, labels
        self.batch_size, self.epochs, self.runtime = batch_size, epochs, runtime
        self.measured = {}  # one measurement per setting, whichever section asks for it first

    def train(self, name: str, n_blocks: int = 1, layers: list[dict] = (), jit_compile: bool | None = None,
              mixed: bool | None = None) -> float:
        arch = self.config["architectures"][name]
        jit_compile = self.runtime["jit_compile"] if jit_compile is None else jit_compile
        mixed = self.runtime["mixed_precision"] if mixed is None else mixed
        key = (name, n_blocks, json.dumps(list(layers)), jit_compile, mixed, is_op_determinism_enabled())
        if key not in self.measured:
            with precision(mixed):
                self.measured[key] = training_throughput(
                    arch, self.config["head"], n_blocks, self.images, self.labels,
                    image_size_for(arch, self.config["training"]), self.batch_size, self.epochs, jit_compile, layers)
        return self.measured[key]

    def extract(self, name: str) -> float:
        arch = self.config["architectures"][name]
        keras.backend.clear_session()
        extractor = build_extractor(arch, self.images.shape[1], image_size_for(arch, self.config["training"]), None)
        extract(extractor, self.images[: self.batch_size], self.batch_size, "warm-up")
        started = time.perf_counter()
        extract(extractor, self.images, self.batch_size, "benchmark")
        return len(self.images) / (time.perf_counter() - started)


def strategies_at_depth(config: dict, n_blocks: int) -> str:
    """The grid's strategies with a phase that unfreezes `n_blocks` blocks."""
    return ", ".join(name for name in config["finetune"]["strategies"]
                     if any(phase["blocks"] == n_blocks for phase in config["strategies"][name]["phases"]))


def architecture_rates(measure: Measure, architectures: list[str]) -> list[dict]:
    """Training images/s per architecture and unfrozen depth (no augmentation), feature extraction images/s."""
    rows = []
    for name in architectures:
        for n_blocks in range(1, len(measure.config["architectures"][name]["blocks"]) + 1):
            rows.append({"architecture": name, "what": f"train, last {n_blocks} block(s)",
                         "strategies": strategies_at_depth(measure.config, n_blocks),
                         "images_per_s": measure.train(name, n_blocks)})
        rows.append({"architecture": name, "what": "feature extraction (frozen base)", "strategies": "",
                     "images_per_s": measure.extract(name)})
    return rows


def augmentation_policies(config: dict) -> list[str]:
    """The config's policies made of Keras layers only (adversarial training is a defence, not augmentation)."""
    return [name for name, policy in config["augmentations"].items()
            if policy and not split_adversarial(policy)[1]]


def augmentation_costs(measure: Measure, architectures: list[str],
                       policies: list[str] | None = None) -> tuple[list[dict], list[dict]]:
    """Per architecture (last block unfrozen): images/s with each policy vs `none`, and where the time goes: the
    augmentation pipeline's own rate, the cost it predicts when it shares the cores, and both without op determinism
    (under it tf.data runs the augmentation serially)."""
    rows, summary = [], []
    deterministic = measure.runtime["deterministic"]
    for name in architectures:
        for policy in ["none", *(policies or augmentation_policies(measure.config))]:
            row = {"architecture": name, "augmentation": policy, **policy_cost(measure, name, policy, deterministic)}
            if deterministic:
                with determinism(False):
                    free = policy_cost(measure, name, policy, False)
                row.update({f"{key}_without_determinism": value for key, value in free.items()})
            rows.append(row)
            if policy != "none":
                summary.append(summary_row(
                    f"augmentation cost, {name}, {policy}", "none", policy, measure.train(name, 1), row["images_per_s"],
                    "training images/s", f"cost < {AUGMENTATION_TARGET:.0%}", row["cost"] < AUGMENTATION_TARGET,
                    where_augmentation_time_goes(row, measure.train(name, 1))))
    return rows, summary


def policy_cost(measure: Measure, name: str, policy: str, deterministic: bool) -> dict:
    """Training images/s with `policy`, its cost against `none`, the pipeline alone, and the cost that predicts."""
    layers = measure.config["augmentations"][policy]
    none, rate = measure.train(name, 1), measure.train(name, 1, layers)
    alone = tf_data_rate(measure.images, measure.labels, measure.batch_size, 1, layers) if layers else None
    predicted = (1 / alone) / (1 / alone + 1 / none) if layers else 0.0
    return {"images_per_s": rate, "cost": 1 - rate / none, "pipeline_alone_images_per_s": alone,
            "predicted_cost": predicted}


def where_augmentation_time_goes(row: dict, training: float) -> str:
    alone = row["pipeline_alone_images_per_s"]
    note = (f"the augmentation alone runs at {alone:.0f} images/s ({1000 / alone:.2f} ms/image) beside "
            f"{1000 / training:.2f} ms/image of training; on the same cores, one after the other, it predicts a cost "
            f"of {row['predicted_cost']:.0%}")
    if "cost_without_determinism" in row:
        note += (f"; with training.deterministic false (tf.data may then run it in parallel) the cost is "
                 f"{row['cost_without_determinism']:.0%}, the augmentation alone "
                 f"{row['pipeline_alone_images_per_s_without_determinism']:.0f} images/s")
    return note


def runtime_switches(measure: Measure, architectures: list[str]) -> tuple[list[dict], list[dict]]:
    """Training images/s (last block, no augmentation) with each switch off and on: op determinism, XLA (measured
    without determinism: under it Keras turns XLA off), mixed precision (only with a GPU: a CPU emulates float16)."""
    rows, summary = [], []
    runtime = measure.runtime
    for name in architectures:
        with determinism(False):
            free = measure.train(name, 1)
            xla = (measure.train(name, 1, jit_compile=False), measure.train(name, 1, jit_compile=True))
        with determinism(True):
            switches = {"op determinism (training.deterministic)": (free, measure.train(name, 1)),
                        "XLA (jit_compile), without determinism": xla}
        mixed = runtime["mixed_precision"]
        flipped = measure.train(name, 1, mixed=not mixed) if runtime["gpu"] else None
        switches["mixed precision (float16)"] = (flipped, measure.train(name, 1)) if mixed else \
            (measure.train(name, 1), flipped)
        for label, (off, on) in switches.items():
            rows.append({"architecture": name, "switch": label, "off_images_per_s": off, "on_images_per_s": on})
            summary.append(summary_row(f"{label}, {name}", "off", "on", off, on, "training images/s",
                                       note=SWITCH_NOTES[label.split(" (")[0]]))
    return rows, summary


SWITCH_NOTES = {
    "op determinism": "the workflow's default is on (same seed, same numbers)",
    "XLA": "the workflow's auto turns it on with a GPU, but with training.deterministic on Keras turns XLA off "
           "(not all ops are deterministic under XLA)",
    "mixed precision": "the workflow's auto: on with a GPU; not measured without one (a CPU emulates float16)",
}
