"""One fine-tuning job of the demo, timed stage by stage in a fresh process (run by `bench.overhead`):

    python -m bench.job_stages --launched <time.time() of the parent> [--variant A/S/G] ...

Prints one JSON line: seconds of each stage, from the parent's launch (so the interpreter's start and the imports
count, as they do in a Snakemake job) to the evaluation's outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


class StageClock:
    """Wall-clock marks of named moments, as seconds since `launched`."""

    def __init__(self, launched: float):
        self.launched, self.marks = launched, {}

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.time() - self.launched)  # the first time counts (phases refit)


def training_marks(clock: StageClock):
    """A Keras callback marking when training begins, when its first step ends (tracing) and when it ends."""
    import keras

    class Marks(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            clock.mark("train_begin")

        def on_train_batch_end(self, batch, logs=None):
            clock.mark("first_step")

        def on_train_end(self, logs=None):
            clock.marks["train_end"] = time.time() - clock.launched  # the last phase's end

    return Marks()


def stage_seconds(marks: dict) -> dict:
    """Durations of the stages from the cumulative marks."""
    order = [("imports", "Python start and imports (TensorFlow, Keras, library)"),
             ("data", "data (synthetic images, splits)"),
             ("train_begin", "model build, compile, input pipeline"),
             ("first_step", "first training step (graph tracing)"),
             ("train_end", "training (remaining steps, selection evaluation per epoch)"),
             ("outputs", "evaluation and saved model")]
    seconds, previous = {}, 0.0
    for key, label in order:
        seconds[label] = marks[key] - previous
        previous = marks[key]
    return seconds


def run_job(config: dict, variant: str, threads: int | None, clock: StageClock) -> dict:
    from landcover_transfer.data.splits import make_splits
    from landcover_transfer.data.synthetic import make_synthetic
    from landcover_transfer.finetune.resume import claim, fingerprint
    from landcover_transfer.finetune.training import predict_proba, save_inference_model, train_variant

    clock.mark("imports")
    arch, strategy, aug = variant.split("/")
    synthetic, evaluation = config["data"]["synthetic"], config["evaluation"]
    dataset = make_synthetic(synthetic["train_per_class"], synthetic["val_per_class"], seed=synthetic["seed"])
    splits = make_splits(dataset, evaluation["protocol"], evaluation["selection_fraction"], evaluation["seed"])
    arrays = splits.arrays(dataset)
    clock.mark("data")
    with tempfile.TemporaryDirectory() as scratch, claim(Path(scratch) / "resume") as folder:
        folder.adopt(fingerprint({"variant": variant}, files={}))
        model, history, _ = train_variant(
            arrays, arch=config["architectures"][arch], strategy=config["strategies"][strategy],
            augmentation=config["augmentations"][aug], training=config["training"],
            schedules=config["schedules"], head=config["head"], n_classes=len(dataset.class_names), weights=None,
            resume=folder, threads=threads, extra_callbacks=[training_marks(clock)])
        predict_proba(model, arrays["x_evaluation"], config["training"]["batch_size"])
        save_inference_model(model, Path(scratch) / "model.keras")
    clock.mark("outputs")
    return {"variant": variant, "fit_images": len(arrays["x_fit"]), "epochs": int(len(history)),
            "seconds": stage_seconds(clock.marks)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launched", type=float, required=True, help="the parent's time.time() at launch")
    parser.add_argument("--config", required=True, help="the merged configuration, as a JSON file")
    parser.add_argument("--variant", default="mobilenet_v2/last_block/none")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    clock = StageClock(args.launched)
    config = json.loads(Path(args.config).read_text())
    result = run_job(config, args.variant, args.threads, clock)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
