"""The synthetic stand-in dataset: deterministic, study-shaped, learnable but not trivial."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from landcover_transfer.data.synthetic import STUDY_CLASSES, make_synthetic
from landcover_transfer.workflow.errors import ConfigError


def test_deterministic():
    first, again, other = make_synthetic(5, 3, seed=1), make_synthetic(5, 3, seed=1), make_synthetic(5, 3, seed=2)
    for name in ("x_train", "y_train", "x_val", "y_val"):
        assert getattr(first, name).tobytes() == getattr(again, name).tobytes()
    assert not np.array_equal(first.x_train, other.x_train)


def test_shapes_dtypes_and_counts():
    dataset = make_synthetic(7, 4, image_size=32)
    assert dataset.class_names == list(STUDY_CLASSES)
    assert dataset.x_train.shape == (63, 32, 32, 3) and dataset.x_val.shape == (36, 32, 32, 3)
    assert dataset.x_train.dtype == np.uint8 and dataset.y_train.dtype == np.int64
    assert np.bincount(dataset.y_train).tolist() == [7] * 9
    assert np.bincount(dataset.y_val).tolist() == [4] * 9
    assert 30 < dataset.x_train.mean() < 220 and dataset.x_train.std() > 10  # neither blank nor saturated


def test_class_subset():
    dataset = make_synthetic(3, 2, class_names=["River", "Forest"])
    assert dataset.class_names == ["River", "Forest"]
    assert np.bincount(dataset.y_train).tolist() == [3, 3]


def test_unknown_class():
    with pytest.raises(ConfigError, match="no class Glacier"):
        make_synthetic(3, 2, class_names=["Forest", "Glacier"])


def downsampled(x, cells=8):
    n, size = len(x), x.shape[1]
    return x.reshape(n, cells, size // cells, cells, size // cells, 3).mean(axis=(2, 4)).reshape(n, -1)


def test_learnable_but_not_trivial():
    dataset = make_synthetic(200, 100, seed=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    with threadpool_limits(1):  # a small fit: BLAS threads only contend (20x slower on a busy machine)
        model.fit(downsampled(dataset.x_train), dataset.y_train)
    accuracy = model.score(downsampled(dataset.x_val), dataset.y_val)
    assert 0.3 < accuracy < 1.0, f"logistic regression on 8x8 pixels: val accuracy {accuracy:.3f}"
