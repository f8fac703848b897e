"""One variant's export folder: the four formats, their agreement with Keras, and export.json (what the model card
reads): the job of rule export_model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landcover_transfer.export.formats import write_formats
from landcover_transfer.export.runtimes import parity, parity_problems
from landcover_transfer.workflow.atomic_files import write_json
from landcover_transfer.workflow.errors import DataError
from landcover_transfer.workflow.provenance import PACKAGES, package_versions

# What wrote and checked the files, beside the training's packages (workflow/provenance.py).
EXPORTERS = {**PACKAGES, **{name: (name,) for name in ("tf2onnx", "onnx", "onnxruntime", "ai-edge-litert")}}


def parity_images(images: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """`count` held-out images drawn without replacement, as the float32 0..255 pixels an export takes."""
    chosen = np.sort(np.random.default_rng(seed).choice(len(images), min(count, len(images)), replace=False))
    return images[chosen].astype(np.float32)


def export_variant(model_path: str | Path, paths: dict[str, str | Path], pixels: np.ndarray, max_abs_diff: float,
                   class_names: list[str], summary_path: str | Path) -> dict:
    """Writes every format of `paths` (keys of formats.FORMATS), runs each with its own runtime on `pixels`, and
    fails with the figures when one disagrees with the saved Keras model by more than `max_abs_diff`."""
    from landcover_transfer.finetune.models import check_class_count, load_model

    model = load_model(model_path)
    check_class_count(model, str(model_path), class_names)
    seconds = write_formats(model, paths)
    reference = model.predict(pixels, verbose=0)
    rows = parity(reference, paths, pixels)
    problems = parity_problems(rows, max_abs_diff)
    if problems:
        raise DataError(f"{model_path}: the exports disagree with the Keras model on held-out images: "
                        + "; ".join(problems))
    summary = {"model": str(model_path), "input": {"name": model.inputs[0].name, "shape": list(model.inputs[0].shape),
                                                   "dtype": "float32", "range": [0, 255], "channels": "RGB"},
               "output": {"shape": list(model.outputs[0].shape), "meaning": "class probabilities (softmax)"},
               "classes": class_names,
               "files": {name: Path(path).name for name, path in paths.items()},
               "megabytes": {name: round(_size(Path(path)) / 1e6, 2) for name, path in paths.items()},
               "seconds": seconds, "parity": rows,
               "max_abs_diff_allowed": max_abs_diff,
               "versions": package_versions(EXPORTERS)}
    write_json(summary_path, summary)
    return summary


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size

