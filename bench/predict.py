"""Mapping scenes of increasing size: seconds per km² and the peak memory of the mapping process, each size in a
fresh process (its own peak), with a variant of the config (random weights: the time does not depend on them) at
its training size, and the time of a full Sentinel-2 tile (10,980 x 10,980 pixels of 10 m) projected from the
largest scene.

    python -m bench.predict MODEL SCENE STRIDE TTA OUT     # one mapping (what the section runs per size)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import REPO, summary_row

FULL_TILE_PX = 10_980
PIXEL_M = 10.0
WHITE_GAINS = {"method": "fixed", "gain": [255 / 2000] * 3, "bias": [0.0] * 3}  # reflectance x 10,000, white 0.2


def write_scene(path: Path, size: int, seed: int = 0) -> None:
    """A size x size uint16 scene of random reflectance x 10,000, written by rows (any size fits in memory)."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint16", "tiled": True,
               "compress": "deflate", "crs": "EPSG:32630", "transform": from_origin(500000, 5800000, PIXEL_M,
                                                                                       PIXEL_M)}
    with rasterio.open(path, "w", **profile) as scene:
        for row in range(0, size, 256):
            rows = min(256, size - row)
            scene.write(rng.integers(0, 2000, (3, rows, size), dtype=np.uint16), window=Window(0, row, size, rows))


def build_model(config: dict, variant: str, path: Path) -> int:
    """The variant's model at its training size with random weights, saved; returns its input (window) size."""
    from landcover_transfer.finetune.models import build_finetune_model
    from landcover_transfer.finetune.training import save_inference_model

    arch = config["architectures"][variant.split("/")[0]]
    data_size = 64  # EuroSAT's images: the window
    image_size = arch.get("image_size", config["training"]["image_size"])
    model, _ = build_finetune_model(arch, config["head"], 9, data_size, image_size, weights=None)
    save_inference_model(model, path)
    return data_size


def map_once(model_path: str, scene_path: str, stride: int, tta: bool, out: str) -> dict:
    """One scene mapped in this process: seconds of the mapping alone (the model loaded and traced before)."""
    from landcover_transfer.finetune.models import load_model
    from landcover_transfer.predict.scene import predict_scene, window_predictor

    model = load_model(model_path)
    predict = window_predictor([model], batch_size=256, tta=tta)
    predict(np.zeros((2, *model.input_shape[1:]), np.float32))  # tracing, as a long job pays it once
    started = time.perf_counter()
    facts = predict_scene(scene_path, [1, 2, 3], WHITE_GAINS, predict, model.input_shape[1], stride,
                          [f"class{i}" for i in range(model.output_shape[-1])], 0.5,
                          {"colours": {}, "colormap": "tab10"},
                          {"classes": Path(out) / "classes.tif", "probabilities": Path(out) / "probabilities.tif"})
    return {"seconds": time.perf_counter() - started, "pixels": int(sum(facts["counts"]))}


def measure(model: Path, scene: Path, stride: int, tta: bool, threads: int | None) -> dict:
    """map_once in a child process: its result and its peak resident memory (os.wait4's rusage of that child)."""
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
               "TF_CPP_MIN_LOG_LEVEL": "2", **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        child = subprocess.Popen([sys.executable, "-m", "bench.predict", str(model), str(scene), str(stride),
                                  str(int(tta)), out], env=env, stdout=subprocess.PIPE, text=True, cwd=REPO)
        stdout = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise RuntimeError(f"mapping a {scene.name} failed (exit {child.returncode})")
        return {**json.loads(stdout.strip().splitlines()[-1]), "peak_rss_mb": usage.ru_maxrss / 1024}


def scene_scaling(config: dict, variant: str, sizes: list[int], stride: int, tta_sizes: list[int],
                  threads: int | None) -> tuple[list[dict], list[dict]]:
    """Rows per scene size (and with test-time augmentation at `tta_sizes`), and the projected full tile."""
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        model = Path(scratch) / "model.keras"
        window = build_model(config, variant, model)
        for size in sizes:
            scene = Path(scratch) / f"scene{size}.tif"
            write_scene(scene, size)
            for tta in (False, True) if size in tta_sizes else (False,):
                result = measure(model, scene, stride, tta, threads)
                km2 = size * size * PIXEL_M ** 2 / 1e6
                windows = ((size - window) // stride + 1) ** 2
                rows.append({"variant": variant, "scene_px": size, "km2": km2, "stride": stride, "tta": tta,
                             "windows": windows, "seconds": result["seconds"],
                             "seconds_per_km2": result["seconds"] / km2, "windows_per_s": windows / result["seconds"],
                             "peak_rss_mb": result["peak_rss_mb"]})
    return rows, projection(rows)


def projection(rows: list[dict]) -> list[dict]:
    """The full tile's time from the largest scene's seconds per km² (without and with test-time augmentation), and
    how the peak memory grew from the smallest to the largest scene."""
    tile_km2 = FULL_TILE_PX ** 2 * PIXEL_M ** 2 / 1e6
    plain = [row for row in rows if not row["tta"]]
    summary = []
    for tta in (False, True):
        measured = [row for row in rows if row["tta"] == tta]
        if measured:
            largest = max(measured, key=lambda row: row["scene_px"])
            summary.append(summary_row(
                f"full tile {FULL_TILE_PX} px, {largest['variant']}, stride {largest['stride']}"
                f"{', test-time augmentation' if tta else ''}", "", "projected", None,
                largest["seconds_per_km2"] * tile_km2 / 3600, "hours",
                note=f"from {largest['scene_px']} px ({largest['km2']:.1f} km²): "
                     f"{largest['seconds_per_km2']:.2f} s/km²"))
    smallest, largest = min(plain, key=lambda r: r["scene_px"]), max(plain, key=lambda r: r["scene_px"])
    summary.append(summary_row(
        "peak memory of the mapping process", f"{smallest['scene_px']} px", f"{largest['scene_px']} px",
        smallest["peak_rss_mb"], largest["peak_rss_mb"], "MB", target="grows less than the scene",
        met=largest["peak_rss_mb"] / smallest["peak_rss_mb"] < largest["km2"] / smallest["km2"],
        note=f"scene area x{largest['km2'] / smallest['km2']:.0f}", higher_is_better=False))
    return summary


if __name__ == "__main__":
    model_path, scene_path, stride, tta, out = sys.argv[1:6]
    print(json.dumps(map_once(model_path, scene_path, int(stride), bool(int(tta)), out)))
