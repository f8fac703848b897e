"""One full-size variant per architecture, trained by the workflow's own `train_variant` (callbacks, selection
evaluation, resume state) for a few epochs, and the projected time of the whole study's grid on this machine."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bench.common import random_images, steady_seconds, summary_row
from bench.throughput import EpochTimer
from landcover_transfer.finetune.resume import claim, fingerprint
from landcover_transfer.finetune.training import train_variant
from landcover_transfer.workflow.config import variant_ids


def study_sizes(config: dict, images: int | None) -> tuple[int, int]:
    """(fit, selection) images of the study's data (config data.synthetic), or of `images` split the same way."""
    synthetic, fraction = config["data"]["synthetic"], config["evaluation"]["selection_fraction"]
    per_class = synthetic["train_per_class"] + synthetic["val_per_class"]
    total = images or per_class * 9
    train = round(total * synthetic["train_per_class"] / per_class)
    selection = round(train * fraction)
    return train - selection, selection


def variant_epoch_seconds(config: dict, variant: str, fit: int, selection: int, epochs: int,
                          threads: int | None) -> float:
    """Steady seconds of one epoch of `variant` (training on `fit` images, evaluating `selection`)."""
    arch, strategy, aug = variant.split("/")
    x, y = random_images(fit + selection, 64, 9)
    arrays = {"x_fit": x[:fit], "y_fit": y[:fit], "x_selection": x[fit:], "y_selection": y[fit:]}
    training = {**config["training"], "epochs": epochs, "early_stopping": {"monitor": "val_accuracy",
                                                                           "patience": epochs + 1}}
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as scratch, claim(Path(scratch) / "resume") as folder:
        folder.adopt(fingerprint({"variant": variant}, files={}))
        train_variant(arrays, arch=config["architectures"][arch], strategy=config["strategies"][strategy],
                      augmentation=config["augmentations"][aug], training=training, schedules=config["schedules"],
                      head=config["head"], n_classes=9, weights=None, resume=folder, threads=threads,
                      extra_callbacks=[timer])
    return steady_seconds(timer.durations)


def study_projection(config: dict, variant_suffix: str, images: int | None, epochs: int,
                     threads: int | None) -> tuple[list[dict], list[dict]]:
    """Per architecture: images/s of a full-size variant, and the grid's hours at `training.epochs` each (an upper
    bound: early stopping ends runs sooner; deeper strategies train more layers than the measured one)."""
    fit, selection = study_sizes(config, images)
    study_fit, _ = study_sizes(config, None)
    grid = variant_ids(config)
    rows = []
    for arch in config["finetune"]["architectures"]:
        variant = f"{arch}/{variant_suffix}"
        seconds = variant_epoch_seconds(config, variant, fit, selection, epochs, threads)
        study_epoch = seconds * study_fit / fit
        n_variants = sum(variant_id.startswith(f"{arch}/") for variant_id in grid)
        rows.append({"variant": variant, "fit_images": fit, "selection_images": selection, "epoch_seconds": seconds,
                     "images_per_s": fit / seconds, "grid_variants": n_variants,
                     "projected_hours": n_variants * config["training"]["epochs"] * study_epoch / 3600})
    hours = float(np.sum([row["projected_hours"] for row in rows]))
    summary = [summary_row("projected full study (fine-tuning grid)", "", "this machine", None, hours, "hours",
                           note=f"{len(grid)} variants x {config['training']['epochs']} epochs on {study_fit} fit "
                                "images, from one measured variant per architecture; an upper bound "
                                "(early stopping ends runs sooner)", higher_is_better=False)]
    return rows, summary
