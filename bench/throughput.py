"""Throughput on this machine: training images/s per architecture and strategy, feature extraction images/s.

    PYTHONPATH=src python -m bench.throughput [--image-size 64] [--images 256] [--epochs 2] [--classes 9]

Prints a table; the first epoch (graph tracing) is excluded from the training figures. Uses random
weights and random pixels: throughput does not depend on either.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from landcover_transfer.classical.features import build_extractor, extract  # noqa: E402
from landcover_transfer.finetune.models import build_finetune_model, set_trainable_blocks  # noqa: E402
from landcover_transfer.finetune.pipeline import build_augmentation, make_dataset  # noqa: E402
from landcover_transfer.finetune.training import configure_runtime  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.durations = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.durations.append(time.perf_counter() - self.started)


def training_throughput(arch: dict, head: dict, n_blocks: int, images: np.ndarray, labels: np.ndarray,
                        image_size: int, batch_size: int, epochs: int, jit_compile: bool,
                        augmentation: list[dict] = ()) -> float:
    """Training images/s with the last `n_blocks` blocks unfrozen and the augmentation layers `augmentation`
    in the input pipeline (as a fine-tuning job has them)."""
    n_classes = int(labels.max()) + 1
    keras.backend.clear_session()  # one model at a time in memory, however many are measured
    model, base = build_finetune_model(arch, head, n_classes, images.shape[1], image_size, None)
    set_trainable_blocks(base, arch["blocks"], n_blocks)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit_compile)
    timer = EpochTimer()
    pipeline = make_dataset(images, labels, batch_size, shuffle=True, seed=0,
                            augmentation=build_augmentation(list(augmentation), seed=0))
    model.fit(pipeline, epochs=epochs, callbacks=[timer], verbose=0)
    steady = timer.durations[1:] or timer.durations
    return len(images) / float(np.median(steady))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--classes", type=int, default=9, help="the study's data: 9 classes")
    parser.add_argument("--source-size", type=int, default=64, help="stored image side (the study's: 64 px)")
    parser.add_argument("--architectures", nargs="*", help="default: the config's fine-tuning grid")
    parser.add_argument("--mobilenet-alpha", type=float, default=None, help="override MobileNetV2 alpha")
    args = parser.parse_args()

    config = yaml.safe_load(Path(args.config).read_text())
    runtime = configure_runtime({"mixed_precision": "auto", "jit_compile": "auto"}, os.cpu_count())
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, args.source_size, args.source_size, 3), dtype=np.uint8)
    labels = np.arange(args.images) % args.classes
    print(f"device: {'GPU' if runtime['gpu'] else 'CPU'} ({os.cpu_count()} cores), image_size {args.image_size}, "
          f"batch {args.batch_size}, {args.images} images, mixed precision {runtime['mixed_precision']}, "
          f"XLA {runtime['jit_compile']}")
    print(f"{'architecture':<14} {'what':<28} {'images/s':>10}")
    for name in args.architectures or config["finetune"]["architectures"]:
        arch = config["architectures"][name]
        if arch["constructor"] == "MobileNetV2" and args.mobilenet_alpha:
            arch = {**arch, "kwargs": {**arch.get("kwargs", {}), "alpha": args.mobilenet_alpha}}
        for n_blocks in range(1, len(arch["blocks"]) + 1):
            rate = training_throughput(arch, config["head"], n_blocks, images, labels, args.image_size,
                                       args.batch_size, args.epochs, runtime["jit_compile"])
            print(f"{name:<14} {f'train, last {n_blocks} block(s)':<28} {rate:>10.1f}", flush=True)
    features = config["features"]
    extractor = build_extractor(config["architectures"][features["architecture"]], args.source_size,
                                args.image_size, None)
    extract(extractor, images[: args.batch_size], args.batch_size, "warm-up")
    started = time.perf_counter()
    extract(extractor, images, args.batch_size, "benchmark")
    rate = len(images) / (time.perf_counter() - started)
    print(f"{features['architecture']:<14} {'feature extraction':<28} {rate:>10.1f}")


if __name__ == "__main__":
    main()
