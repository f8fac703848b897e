"""model_card.md: what a user of an exported variant needs to know, from the files the workflow made (the
training's metrics and per-class report, the attacks' results, the export's parity check): the job of rule
model_card."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd

from landcover_transfer.data.splits import Splits
from landcover_transfer.evaluation.accuracy_stats import correct_answers, wilson_interval


def accuracy_section(metrics: dict, proba: np.ndarray, splits: Splits, report: pd.DataFrame, level: float) -> str:
    """The evaluation accuracy with its Wilson interval, and precision and recall per class."""
    correct = correct_answers(proba, splits.y_evaluation)
    low, high = wilson_interval(correct, level)
    per_class = report[report["class"].isin(splits.class_names)]
    rows = "\n".join(f"| {r['class']} | {r['precision']:.3f} | {r['recall']:.3f} | {int(r['support'])} |"
                     for _, r in per_class.iterrows())
    return (f"Evaluation accuracy **{correct.mean():.4f}** ({int(correct.sum())} of {len(correct)} images; "
            f"{level:.0%} Wilson interval {low:.4f}-{high:.4f}); accuracy on the selection split, which chose the "
            f"epoch: {metrics['selection_accuracy']:.4f}.\n\n"
            f"| Class | Precision | Recall | Images |\n|---|---|---|---|\n{rows}\n")


def robustness_section(attacks: list[dict]) -> str:
    """Accuracy under each attack at each budget, or a line saying none was measured."""
    if not attacks:
        return "Not measured (no attack in `robustness.attacks`).\n"
    budgets = sorted({eps for attack in attacks for eps in attack["eps"]})
    header = "| Attack | " + " | ".join(f"eps {eps}/255" for eps in budgets) + " |"
    rows = [f"| {a['attack']} | " + " | ".join(
        f"{dict(zip(a['eps'], a['accuracy'], strict=True))[eps]:.3f}" if eps in a["eps"] else "-" for eps in budgets)
        + " |" for a in attacks]
    return (f"White-box L-infinity attacks in pixel space on {attacks[0]['n_images']} evaluation images; "
            f"accuracy under attack:\n\n{header}\n|---|{'---|' * len(budgets)}\n" + "\n".join(rows) + "\n")


def exports_section(export: dict) -> str:
    rows = "\n".join(f"| {row['format']} | `{export['files'][row['format']]}` | {export['megabytes'][row['format']]} "
                     f"| {row['same_class']} / {row['images']} | {row['max_abs_diff']:.1e} |"
                     for row in export["parity"])
    return ("Each file run by its own runtime (Keras, TensorFlow, onnxruntime, LiteRT) on held-out images and "
            f"compared with the saved Keras model (allowed max |dp|: {export['max_abs_diff_allowed']:g}):\n\n"
            "| Format | File | MB | Same class | Max abs. diff. of a probability |\n|---|---|---|---|---|\n"
            f"{rows}\n")


def limits_section(class_names: list[str], size: int) -> str:
    return (f"Intended use: classifying {size} x {size} px RGB chips of 10 m Sentinel-2 imagery, EuroSAT-style, into "
            f"{len(class_names)} classes, alone or as sliding windows over a scene (rule predict_scene).\n\n"
            f"Known limits:\n\n- Only these classes exist for the model: {', '.join(class_names)}. Anything else "
            "(sea, clouds, snow, bare rock) is forced into one of them; threshold the top probability "
            "(`predict.unknown_below`) to flag such pixels.\n"
            f"- The input is {size} x {size} px of 10 m ground size; other resolutions change what a window shows.\n"
            "- The input is 8-bit RGB as EuroSAT's: a Sentinel-2 product's reflectance must be mapped to 0..255 "
            "first; the mapping changes the result by several points (docs/predict.md, value mapping).\n"
            "- The accuracy above is on held-out images of the training dataset; other regions, seasons and "
            "sensors are not measured.\n")


def model_card(variant: str, metrics: dict, accuracy: str, robustness: str, export: dict, splits: Splits) -> str:
    """The card as Markdown."""
    git = metrics["provenance"]["git"]
    size = export["input"]["shape"][1]
    config = metrics["provenance"]["config"]
    return f"""# Model card: {variant}

Exported {datetime.date.today().isoformat()} by landcover-transfer (rule export_model). Architecture
`{config['arch']['constructor']}` {config['arch'].get('kwargs', {})}, fine-tuned from `{metrics['weights']}` with
strategy `{metrics['strategy']}` and augmentation `{metrics['augmentation']}`, seed {metrics['seed']}.

## Input and output

- Input `{export['input']['name']}`: float32, shape (batch, {size}, {size}, 3), **raw RGB pixel values 0..255**. The
  resizing and the architecture's preprocessing are inside the model; do not normalise.
- Output: shape (batch, {len(splits.class_names)}), class probabilities (softmax) in this order:
  {', '.join(f'{i} {name}' for i, name in enumerate(splits.class_names))}.
- No test-time augmentation inside: average the model over flips and 90-degree rotations yourself if wanted.

## Data and splits

Protocol `{splits.protocol}`: {len(splits.fit_index)} images fit the model, {len(splits.selection_index)}
(the {splits.selection_split} split) chose the epoch, {len(splits.y_evaluation)} held-out images evaluate it.

## Accuracy

{accuracy}
## Robustness

{robustness}
## Training cost

{metrics['epochs_run']} epochs (best: {metrics['best_epoch']}, stopped: {metrics['stopped_by']}),
{metrics['wall_time_s']:.0f} s of training on {'a GPU' if metrics['gpu'] else 'CPU'}, {metrics['trainable_params']:,}
trainable parameters in the last phase.

## Exports

{exports_section(export)}
## Intended use and limits

{limits_section(splits.class_names, size)}
## Provenance

- Configuration fingerprint (the training's settings): `{metrics['fingerprint']}`
- Git commit: `{git.get('commit')}`{' (uncommitted changes)' if git.get('dirty') else ''}
- Trained with: {_versions(metrics["provenance"]["software"])}
- Exported and checked with: {_versions(export["versions"])}
"""


def _versions(software: dict) -> str:
    return ", ".join(f"{name} {version}" for name, version in software.items())
