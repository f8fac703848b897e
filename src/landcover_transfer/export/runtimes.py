"""Each exported format run by the runtime that a user without this workflow would use (TensorFlow for the
SavedModel, onnxruntime for ONNX, LiteRT's interpreter for `.tflite`), and its agreement with Keras."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


def keras_runtime(path: str | Path) -> Predict:
    from landcover_transfer.finetune.models import load_model

    model = load_model(path)
    return lambda pixels: model.predict(pixels, verbose=0)


def saved_model_runtime(path: str | Path) -> Predict:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    return lambda pixels: next(iter(serve(tf.constant(pixels)).values())).numpy()


def onnx_runtime(path: str | Path) -> Predict:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda pixels: session.run(None, {name: pixels})[0]


def litert_runtime(path: str | Path) -> Predict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    (source,), (result,) = interpreter.get_input_details(), interpreter.get_output_details()

    def predict(pixels: np.ndarray) -> np.ndarray:
        interpreter.resize_tensor_input(source["index"], pixels.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(source["index"], pixels)
        interpreter.invoke()
        return interpreter.get_tensor(result["index"]).copy()

    return predict


RUNTIMES = {"keras": keras_runtime, "tf_saved_model": saved_model_runtime, "onnx": onnx_runtime,
            "litert": litert_runtime}


def parity(reference: np.ndarray, paths: dict[str, str | Path], pixels: np.ndarray) -> list[dict]:
    """Per format: its probabilities for `pixels` (float32 0..255, NHWC) against `reference` (the Keras model's):
    the images given the same top class, and the largest absolute difference of a probability."""
    rows = []
    for name, path in paths.items():
        probabilities = RUNTIMES[name](path)(pixels)
        rows.append({"format": name, "images": len(pixels),
                     "same_class": int(np.sum(probabilities.argmax(1) == reference.argmax(1))),
                     "max_abs_diff": float(np.max(np.abs(probabilities - reference)))})
    return rows


def parity_problems(rows: list[dict], max_abs_diff: float) -> list[str]:
    """The formats that disagree with Keras: another class for any image, or a probability off by more than
    `max_abs_diff`."""
    return [f"{row['format']}: {row['images'] - row['same_class']} of {row['images']} images get another class, "
            f"max |dp| {row['max_abs_diff']:.2e} (limit {max_abs_diff:g})"
            for row in rows if row["same_class"] < row["images"] or row["max_abs_diff"] > max_abs_diff]
