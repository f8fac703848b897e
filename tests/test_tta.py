"""finetune/tta.py: test-time augmentation over the 8 flips and 90-degree rotations of each image."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from landcover_transfer.finetune.tta import dihedral_views, tta_proba  # noqa: E402


def test_the_eight_views_are_the_dihedral_group_of_the_square():
    image = np.arange(3 * 3).reshape(1, 3, 3, 1)  # no symmetry: every view differs
    views = [view[0, :, :, 0] for view in dihedral_views(image)]
    assert len({view.tobytes() for view in views}) == 8
    expected = [np.rot90(image[0, :, :, 0], k) for k in range(4)]
    expected += [np.fliplr(view) for view in expected]
    assert {view.tobytes() for view in views} == {view.tobytes() for view in expected}


def test_tta_proba_is_the_mean_of_the_models_probabilities_over_the_views():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    images = np.random.default_rng(0).uniform(0, 255, (5, 4, 4, 3)).astype("float32")
    views = [np.ascontiguousarray(view) for view in dihedral_views(images)]
    expected = np.mean([model.predict(view, verbose=0) for view in views], axis=0)
    proba = tta_proba(model, images, batch_size=2)
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(proba, model.predict(images, verbose=0))  # a dense layer is not rotation invariant
