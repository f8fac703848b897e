"""A saved variant written in the formats other programs run: Keras (`.keras`), TensorFlow SavedModel, ONNX and
LiteRT (`.tflite`), all through Keras' own `Model.export`.

A saved variant is already what an export needs: its input is raw 0..255 RGB pixels and the resizing and the
architecture's preprocessing are layers inside it, while the training's random augmentation lives in the input
pipeline (finetune/pipeline.py), not in the model. Test-time augmentation is not exported.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import keras

from landcover_transfer.workflow.atomic_files import atomic_path

# The formats, as `keras.Model.export` names them ("keras": `Model.save`), in the order they are written and
# checked; rule export_model's outputs carry these names.
FORMATS = ("keras", "tf_saved_model", "onnx", "litert")


def write_formats(model: keras.Model, paths: dict[str, str | Path]) -> dict[str, float]:
    """Every format of `paths` (keys of FORMATS) written to its path (a file, or the SavedModel's folder); the
    seconds each took. Each appears under its name only once complete."""
    seconds = {}
    for name, path in paths.items():
        started = time.perf_counter()
        if name == "tf_saved_model":
            _export_folder(model, Path(path))
        elif name == "keras":
            with atomic_path(path) as tmp:
                model.save(tmp)
        else:
            with atomic_path(path) as tmp:
                model.export(str(tmp), format=name, verbose=False)
        seconds[name] = round(time.perf_counter() - started, 2)
    return seconds


def _export_folder(model: keras.Model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as tmp:
        model.export(str(Path(tmp) / path.name), format="tf_saved_model", verbose=False)
        shutil.rmtree(path, ignore_errors=True)
        (Path(tmp) / path.name).rename(path)
