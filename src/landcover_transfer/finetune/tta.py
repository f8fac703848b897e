"""Test-time augmentation: a model's class probabilities averaged over the 8 flips and 90-degree rotations of
each image (the dihedral group of the square). Orientation carries no meaning in overhead imagery, so each view
is as valid an input as the original.

An evaluation option (`evaluation.test_time_augmentation: dihedral`), not part of training: turning it on or off
never retrains a variant (rule finetune_tta reads the saved model).
"""

from __future__ import annotations

import numpy as np


def dihedral_views(images: np.ndarray):
    """The 8 views of a batch of (N, H, W, C) square images: 4 rotations by 90 degrees, each also mirrored."""
    for turns in range(4):
        rotated = np.rot90(images, turns, axes=(1, 2))
        yield rotated
        yield rotated[:, :, ::-1]


def tta_proba(model, images: np.ndarray, batch_size: int) -> np.ndarray:
    """The mean of the model's probabilities over the dihedral views of `images`."""
    from landcover_transfer.finetune.training import predict_proba

    probas = [predict_proba(model, np.ascontiguousarray(view), batch_size) for view in dihedral_views(images)]
    return np.mean(probas, axis=0, dtype=np.float64).astype(np.float32)
