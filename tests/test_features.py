"""classical/features.py: the classical branch's frozen extractor (the shipped `features` config: VGG16 at 64x64 gives
2x2x512 = 2048 features) and batched extraction."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from landcover_transfer.classical import features  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
FEATURES = CONFIG["features"]
ARCH = CONFIG["architectures"][FEATURES["architecture"]]


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="module")
def extractor():
    keras.utils.set_random_seed(0)
    size = FEATURES["image_size"]
    return features.build_extractor(ARCH, data_size=size, image_size=size, weights=None)


def test_shipped_extractor_yields_2048_features(extractor):
    assert FEATURES["architecture"] == "vgg16" and FEATURES["image_size"] == 64  # the study's setup
    size = FEATURES["image_size"]
    assert extractor.input_shape == (None, size, size, 3)
    base = next(layer for layer in extractor.layers if isinstance(layer, keras.Model))
    _, h, w, c = base.output_shape
    assert (h, w, c) == (2, 2, 512)
    assert extractor.output_shape == (None, h * w * c) == (None, 2048)
    assert not extractor.trainable_weights  # frozen


def test_extract_in_batches_equals_one_forward_pass(extractor):
    size = FEATURES["image_size"]
    images = np.random.default_rng(0).integers(0, 256, (7, size, size, 3), dtype=np.uint8)
    batch_size = 3  # 7 images: two full batches and a partial one

    extracted = features.extract(extractor, images, batch_size, label="test")

    assert extracted.shape == (len(images), 2048)
    assert extracted.dtype == np.float32
    one_shot = keras.ops.convert_to_numpy(extractor(images.astype("float32"), training=False))
    np.testing.assert_allclose(extracted, one_shot, rtol=1e-5, atol=1e-5)
    # order preserved and images distinguishable: no two rows the same
    assert len({row.tobytes() for row in extracted}) == len(images)


def test_extractor_resizes_smaller_data_inside():
    """Data smaller than image_size is resized inside the model: 32x32 data, 64x64 base -> still 2048."""
    extractor = features.build_extractor(ARCH, data_size=32, image_size=FEATURES["image_size"], weights=None)
    assert extractor.input_shape == (None, 32, 32, 3)
    assert extractor.output_shape == (None, 2048)
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    assert features.extract(extractor, images, 4, label="test").shape == (2, 2048)


def test_extract_dataset_features_covers_train_and_val():
    from types import SimpleNamespace

    rng = np.random.default_rng(2)
    size = FEATURES["image_size"]
    dataset = SimpleNamespace(x_train=rng.integers(0, 256, (5, size, size, 3), dtype=np.uint8),
                              x_val=rng.integers(0, 256, (3, size, size, 3), dtype=np.uint8))
    config = {**FEATURES, "batch_size": 2}

    extracted = features.extract_dataset_features(dataset, ARCH, config, weights=None)

    assert set(extracted) == {"train", "val"}
    assert extracted["train"].shape == (5, 2048) and extracted["val"].shape == (3, 2048)
    assert extracted["train"].dtype == extracted["val"].dtype == np.float32
    assert np.all(np.isfinite(extracted["train"])) and np.all(extracted["train"] >= 0)  # after ReLU/max-pool


def test_average_pooling_gives_one_feature_per_channel_at_any_resolution():
    """`features.pooling: avg`: VGG16's 512 channels whatever the image size; the configured extractor follows it."""
    for size in (32, 64):
        pooled = features.configured_extractor(ARCH, 32, {**FEATURES, "image_size": size, "pooling": "avg"}, None)
        assert pooled.output_shape == (None, 512)
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    pooled = features.build_extractor(ARCH, 32, 32, None, "avg")
    flat = features.build_extractor(ARCH, 32, 32, None)  # same seed, same weights: only the pooling differs
    assert flat.output_shape == (None, 512)  # 1x1x512 at 32 px
    np.testing.assert_allclose(pooled.predict(images, verbose=0), flat.predict(images, verbose=0), rtol=1e-5)
    assert features.configured_extractor(ARCH, 64, FEATURES, None).output_shape == (None, 2048)  # absent: flatten


def test_dihedral_features_are_the_mean_over_the_8_views_and_the_same_for_every_view():
    """`features.test_time_augmentation: dihedral`: the extractor's output is the mean of the one-view extractor's
    over tta.dihedral_views, so all 8 orientations of an image get the same features (and differ from one view's)."""
    from landcover_transfer.finetune.tta import dihedral_views

    spec = {**FEATURES, "image_size": 32, "pooling": "avg"}
    single = features.configured_extractor(ARCH, 32, spec, None)
    averaged = features.configured_extractor(ARCH, 32, {**spec, "test_time_augmentation": "dihedral"}, None)
    assert averaged.output_shape == single.output_shape == (None, 512)
    images = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    expected = np.mean([features.extract(single, np.ascontiguousarray(v), 2, "view") for v in dihedral_views(images)],
                       axis=0)
    got = [features.extract(averaged, np.ascontiguousarray(v), 2, "mean") for v in dihedral_views(images)]
    np.testing.assert_allclose(got[0], expected, rtol=1e-4, atol=1e-5)
    for view in got[1:]:
        np.testing.assert_allclose(view, got[0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(features.extract(single, images, 2, "one view"), expected, rtol=1e-3)
