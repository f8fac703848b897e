"""export/: a variant shipped as Keras, SavedModel, ONNX and LiteRT files with a model card. The parity check's
verdicts and the card's sections as units; the tiny run's exports run here by onnxruntime and LiteRT (no
TensorFlow) against the probabilities its training saved, its card against the files it summarises, and the
README's ONNX example on one of its images. The real-image check is the recipe test's (test_training.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landcover_transfer.data.dataset import load_dataset
from landcover_transfer.data.splits import Splits
from landcover_transfer.export import model_card, runtimes

REPO = Path(__file__).resolve().parents[1]
VARIANT = "mobilenet_v2/last_block/standard"  # tests/config/predict.yaml's export.model
TRAINED = f"results/finetune/{VARIANT}/seed42"


def test_parity_fails_on_another_class_or_a_probability_off_by_more_than_the_limit():
    rows = [{"format": "onnx", "images": 8, "same_class": 8, "max_abs_diff": 2e-6},
            {"format": "litert", "images": 8, "same_class": 7, "max_abs_diff": 3e-6},
            {"format": "tf_saved_model", "images": 8, "same_class": 8, "max_abs_diff": 2e-3}]
    assert runtimes.parity_problems(rows, 1e-4) == [
        "litert: 1 of 8 images get another class, max |dp| 3.00e-06 (limit 0.0001)",
        "tf_saved_model: 0 of 8 images get another class, max |dp| 2.00e-03 (limit 0.0001)"]
    assert runtimes.parity_problems(rows[:1], 1e-4) == []


def test_the_robustness_section_tabulates_each_attack_at_each_budget_or_says_none():
    attacks = [{"attack": "fgsm", "n_images": 90, "eps": [0, 2], "accuracy": [0.5, 0.25]},
               {"attack": "pgd", "n_images": 90, "eps": [0, 4], "accuracy": [0.5, 0.0]}]
    table = model_card.robustness_section(attacks)
    assert "| Attack | eps 0/255 | eps 2/255 | eps 4/255 |" in table
    assert "| fgsm | 0.500 | 0.250 | - |" in table and "| pgd | 0.500 | - | 0.000 |" in table
    assert "on 90 evaluation images" in table
    assert model_card.robustness_section([]).startswith("Not measured")


@pytest.fixture(scope="module")
def held_out(tiny_run) -> tuple[np.ndarray, np.ndarray]:
    """The tiny run's evaluation images (float32 0..255) and the probabilities its training saved for them."""
    dataset = load_dataset(next((tiny_run / "results" / "data").glob("*.h5")))
    pixels = Splits.load(tiny_run / "results/data/splits.npz").arrays(dataset)["x_evaluation"].astype(np.float32)
    return pixels, np.load(tiny_run / TRAINED / "proba_evaluation.npy")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["onnx", "litert"])
def test_the_exports_run_without_tensorflow_give_the_trainings_probabilities(tiny_run, held_out, name):
    pixels, keras_probabilities = held_out
    folder = tiny_run / "results" / "export" / VARIANT
    summary = json.loads((folder / "export.json").read_text())
    probabilities = runtimes.RUNTIMES[name](folder / summary["files"][name])(pixels)
    assert probabilities.shape == keras_probabilities.shape
    assert np.array_equal(probabilities.argmax(1), keras_probabilities.argmax(1))
    assert np.max(np.abs(probabilities - keras_probabilities)) <= 1e-4
    checked = {row["format"]: row for row in summary["parity"]}
    assert set(checked) == {"keras", "tf_saved_model", "onnx", "litert"}
    assert checked[name]["same_class"] == checked[name]["images"] == 16  # tests/config/predict.yaml's parity
    assert checked[name]["max_abs_diff"] <= summary["max_abs_diff_allowed"] == 1e-4


@pytest.mark.slow
def test_the_model_card_gives_the_files_figures(tiny_run):
    folder = tiny_run / "results" / "export" / VARIANT
    card = (folder / "model_card.md").read_text()
    metrics = json.loads((tiny_run / TRAINED / "metrics.json").read_text())
    splits = Splits.load(tiny_run / "results/data/splits.npz")
    assert f"Evaluation accuracy **{metrics['accuracy']:.4f}**" in card
    assert f"of {len(splits.y_evaluation)} images; 95% Wilson interval" in card
    assert re.findall(r"^\| (\w+) \| [\d.]+ \| [\d.]+ \| \d+ \|$", card, re.M) == splits.class_names
    for path in sorted((tiny_run / "results/robustness/finetune" / VARIANT).glob("*/robust.json")):
        attack = json.loads(path.read_text())
        assert f"| {attack['attack']} | " + " | ".join(f"{a:.3f}" for a in attack["accuracy"]) + " |" in card
    assert f"`{metrics['fingerprint']}`" in card
    assert all(f"| {name} | `{file}` |" in card
               for name, file in json.loads((folder / "export.json").read_text())["files"].items())
    assert f"order:\n  {', '.join(f'{i} {n}' for i, n in enumerate(splits.class_names))}." in card


@pytest.mark.slow
def test_the_readmes_onnx_example_classifies_a_chip_without_tensorflow(tiny_run, held_out, tmp_path):
    pixels, keras_probabilities = held_out
    Image.fromarray(pixels[0].astype(np.uint8)).save(tmp_path / "chip.png")  # lossless: the same pixels
    example = textwrap.dedent(re.search(r"```python\n( *import json\n.*?) *```", (REPO / "README.md").read_text(),
                                        re.S)[1])
    folder = re.search(r'^folder = "(.+?)"', example, re.M)[1]
    code = (example.replace(folder, str(tiny_run / "results" / "export" / VARIANT)).replace("chip.jpg", "chip.png")
            + 'import sys\nassert "tensorflow" not in sys.modules and "keras" not in sys.modules\n')
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    name, probability = result.stdout.split()
    assert name == Splits.load(tiny_run / "results/data/splits.npz").class_names[keras_probabilities[0].argmax()]
    assert float(probability) == pytest.approx(keras_probabilities[0].max(), abs=0.01)
