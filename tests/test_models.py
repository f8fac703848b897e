"""finetune/models.py: building every configured architecture, its in-model preprocessing, which layers each strategy
phase unfreezes, saving/reloading, and initial weights from a pre-staged file.

Architectures, strategies and blocks come from the shipped config/config.yaml, so these tests check what
the study runs, not a copy. Every base is built with `weights=None` (no download) except the test of a
pre-staged weights file, which uses ../shared/weights and skips when it is absent.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from keras.src.utils import file_utils  # noqa: E402  (what keras.applications downloads weights with)

from landcover_transfer.finetune import models  # noqa: E402
from landcover_transfer.finetune.training import save_inference_model  # noqa: E402
from landcover_transfer.workflow.errors import ConfigError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
N_CLASSES = 9
DATA_SIZE = 64
WEIGHTS_NAME = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
SHARED_WEIGHTS = ROOT.parent / "shared" / "weights" / WEIGHTS_NAME


def arch_config(name: str) -> dict:
    """The shipped architecture entry; MobileNetV2 at alpha 0.35 (as the tiny test grid) to stay fast."""
    arch = {**CONFIG["architectures"][name]}
    arch["kwargs"] = dict(arch.get("kwargs") or {})
    if name == "mobilenet_v2":
        arch["kwargs"]["alpha"] = 0.35
    return arch


ARCHS = list(CONFIG["finetune"]["architectures"])


def expected_block_layers(base: keras.Model, prefixes: list[str]) -> set[str]:
    """Independent of models._in_block: a prefix matches whole underscore-separated name parts only."""
    return {
        layer.name for layer in base.layers
        if any(layer.name == p or layer.name.startswith(p + "_") for p in prefixes)
        and not isinstance(layer, keras.layers.BatchNormalization)
    }


def raw_pixels(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


# ---------------------------------------------------------------- 1. building

@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("image_size", [DATA_SIZE, 96])
def test_every_architecture_builds_and_predicts_probabilities(name, image_size):
    arch = arch_config(name)
    model, base = models.build_finetune_model(arch, CONFIG["head"], N_CLASSES, DATA_SIZE, image_size, weights=None)

    assert model.input_shape == (None, DATA_SIZE, DATA_SIZE, 3)
    assert model.output_shape == (None, N_CLASSES)
    # the base sees image_size: the data is resized inside the model only when the sizes differ
    assert base.input_shape == (None, image_size, image_size, 3)
    names = [layer.name for layer in model.layers]
    assert ("resize" in names) == (image_size != DATA_SIZE)
    assert isinstance(model.get_layer("preprocess"), models.Preprocess)
    assert model.get_layer("preprocess").module == arch["preprocess"]
    assert ("head_bn" in names) == bool(arch.get("head_batchnorm", False))

    probabilities = keras.ops.convert_to_numpy(model(raw_pixels(3, DATA_SIZE), training=False))
    assert probabilities.shape == (3, N_CLASSES)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_mobilenet_alpha_override_is_applied():
    """The alpha kwarg reaches the constructor: at 0.35 the last conv has 1280 filters but far fewer weights."""
    small = models.build_base(arch_config("mobilenet_v2"), 32, None)
    full = models.build_base(CONFIG["architectures"]["mobilenet_v2"], 32, None)
    assert small.count_params() < full.count_params() / 3
    assert small.get_layer("Conv1").filters < full.get_layer("Conv1").filters


def test_unknown_constructor_and_preprocess_raise_config_error():
    with pytest.raises(ConfigError, match="NoSuchNet"):
        models.build_base({"constructor": "NoSuchNet", "kwargs": {}}, 32, None)
    with pytest.raises(ConfigError, match="no_such_module"):
        models.Preprocess("no_such_module")


# ---------------------------------------------------------------- 2. unfreezing

@pytest.fixture(scope="module")
def bases() -> dict:
    """One base per architecture (layer names do not depend on the resolution: 32x32 keeps it fast)."""
    keras.utils.set_random_seed(0)
    return {name: models.build_base(arch_config(name), 32, None) for name in ARCHS}


@pytest.mark.parametrize("name", ARCHS)
def test_each_strategy_phase_unfreezes_exactly_its_blocks(bases, name):
    base, blocks = bases[name], arch_config(name)["blocks"]
    counts_by_blocks = {}
    for strategy_name in CONFIG["finetune"]["strategies"]:
        for phase in CONFIG["strategies"][strategy_name]["phases"]:
            prefixes = [p for block in blocks[: phase["blocks"]] for p in block]
            expected = expected_block_layers(base, prefixes)
            assert expected, f"{name}: configured prefixes {prefixes} match no layer"

            returned = models.set_trainable_blocks(base, blocks, phase["blocks"])

            trainable = {layer.name for layer in base.layers if layer.trainable}
            assert trainable == expected, f"{name}/{strategy_name} phase blocks={phase['blocks']}"
            # the returned names: the trainable layers that have weights
            assert set(returned) == {layer.name for layer in base.layers
                                     if layer.name in expected and layer.weights}
            assert len(returned) == len(set(returned))
            batchnorms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
            assert bool(batchnorms) == (name != "vgg16")  # VGG16 has no BatchNormalization
            assert not any(layer.trainable for layer in batchnorms)
            # weights: exactly the kernels/biases of the unfrozen layers
            expected_weights = sum(len(base.get_layer(n).trainable_weights) for n in returned)
            assert len(base.trainable_weights) == expected_weights > 0
            count = len(base.trainable_weights)
            assert counts_by_blocks.setdefault(phase["blocks"], count) == count
    # unfreezing more blocks unfreezes strictly more weights
    counts = [counts_by_blocks[n] for n in sorted(counts_by_blocks)]
    assert len(counts) == 2 and counts[0] < counts[1]


@pytest.mark.parametrize("name", ARCHS)
def test_the_eurosat_recipes_third_block_unfreezes_the_whole_base(bases, name):
    """config/eurosat.yaml's blocks for recipe_whole_base: every layer with weights but BatchNorm trainable."""
    recipe = yaml.safe_load((ROOT / "config" / "eurosat.yaml").read_text())
    blocks = recipe["architectures"][name]["blocks"]
    phase_blocks = max(phase["blocks"] for phase in recipe["strategies"]["recipe_whole_base"]["phases"])
    assert blocks[:2] == arch_config(name)["blocks"]  # the study's two blocks, then the rest

    returned = models.set_trainable_blocks(bases[name], blocks, phase_blocks)

    weighted = {layer.name for layer in bases[name].layers if layer.weights
                and not isinstance(layer, keras.layers.BatchNormalization)}
    assert set(returned) == weighted


def test_block_prefix_matches_whole_name_parts_only():
    """`block_1` must not unfreeze `block_16_*` or `block_10`: only `block_1` and `block_1_*`."""
    inputs = keras.Input((4,))
    x = inputs
    names = ["block_1", "block_1_expand", "block_16_expand", "block_10", "block_1x", "block_15_project", "Conv_1"]
    for name in names:
        x = keras.layers.Dense(4, name=name)(x)
    x = keras.layers.BatchNormalization(name="block_1_expand_BN")(x)
    fake = keras.Model(inputs, x, name="fake_base")

    returned = models.set_trainable_blocks(fake, [["block_1"], ["block_15"]], 1)
    assert set(returned) == {"block_1", "block_1_expand"}
    assert {layer.name for layer in fake.layers if layer.trainable} == {"block_1", "block_1_expand"}
    assert not fake.get_layer("block_1_expand_BN").trainable

    returned = models.set_trainable_blocks(fake, [["block_1"], ["block_15"]], 2)
    assert set(returned) == {"block_1", "block_1_expand", "block_15_project"}

    # the same on the real network: MobileNetV2 has block_1 and block_16 (and block_10..15)
    base = models.build_base(arch_config("mobilenet_v2"), 32, None)
    returned = models.set_trainable_blocks(base, [["block_1"]], 1)
    assert returned and all(n.startswith("block_1_") for n in returned)
    assert not any(n.startswith(("block_16", "block_10", "block_11")) for n in returned)
    assert expected_block_layers(base, ["block_1"]) == {layer.name for layer in base.layers if layer.trainable}


def test_recompiling_after_a_phase_change_trains_more_weights():
    arch = arch_config("mobilenet_v2")
    model, base = models.build_finetune_model(arch, CONFIG["head"], N_CLASSES, 32, 32, weights=None)
    head_weights = [w for layer in model.layers if layer is not base for w in layer.trainable_weights]
    x, y = raw_pixels(4, 32), np.arange(4)
    frozen = base.get_layer("block_14_project")  # in no configured block
    frozen_before = keras.ops.convert_to_numpy(frozen.kernel).copy()
    counts, optimized = [], []
    for phase in CONFIG["strategies"]["progressive"]["phases"]:
        models.set_trainable_blocks(base, arch["blocks"], phase["blocks"])
        model.compile(optimizer=keras.optimizers.Adam(phase["learning_rate"]), loss="sparse_categorical_crossentropy")
        assert len(model.trainable_weights) == len(head_weights) + len(base.trainable_weights)
        counts.append(int(sum(np.prod(w.shape) for w in model.trainable_weights)))
        model.train_on_batch(x, y)
        # the compiled optimizer keeps Adam's two slots for exactly the trainable weights
        assert len(model.optimizer.variables) == 2 + 2 * len(model.trainable_weights)
        optimized.append({v.path for v in model.optimizer.variables})
    assert counts[1] > counts[0] > sum(int(np.prod(w.shape)) for w in head_weights)
    # block_15 (the second configured block) joins the optimizer only in phase 2
    assert not any("block_15_project" in p for p in optimized[0])
    assert any("block_15_project" in p for p in optimized[1])
    # a frozen layer never moves
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(frozen.kernel), frozen_before)


@pytest.mark.parametrize("batchnorm_made_trainable", [False, True])
def test_batchnorm_in_an_unfrozen_block_never_learns(batchnorm_made_trainable):
    """The unfrozen block's convolution learns, its BatchNormalization's moving statistics and scale do not.
    Keras 3 lets the outer model's training flag override the `training=False` of the base call (measured with
    Keras 3.15), so the frozen flag is what protects them: made trainable by hand, they move."""
    arch = arch_config("mobilenet_v2")
    model, base = models.build_finetune_model(arch, CONFIG["head"], N_CLASSES, 32, 32, weights=None)
    models.set_trainable_blocks(base, arch["blocks"], 1)
    batchnorm, conv = base.get_layer("Conv_1_bn"), base.get_layer("Conv_1")
    batchnorm.trainable = batchnorm_made_trainable

    def state():
        return [keras.ops.convert_to_numpy(w).copy()
                for w in (batchnorm.moving_variance, batchnorm.gamma, conv.kernel)]

    before = state()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.train_on_batch(raw_pixels(8, 32), np.arange(8) % N_CLASSES)

    moved = [not np.array_equal(a, b) for a, b in zip(state(), before, strict=True)]
    assert moved == [batchnorm_made_trainable, batchnorm_made_trainable, True]


def test_unknown_prefix_or_too_many_blocks_raise_config_error(bases):
    base = bases["vgg16"]
    with pytest.raises(ConfigError, match="block9"):
        models.set_trainable_blocks(base, [["block9"]], 1)
    with pytest.raises(ConfigError, match="block9"):  # also when only one of several prefixes is unknown
        models.set_trainable_blocks(base, [["block5", "block9"]], 1)
    with pytest.raises(ConfigError, match="3 blocks"):
        models.set_trainable_blocks(base, arch_config("vgg16")["blocks"], 3)


# ---------------------------------------------------------------- 3. preprocessing and saving

@pytest.mark.parametrize("name", ARCHS)
def test_preprocess_layer_matches_keras_applications(name):
    arch = arch_config(name)
    model, _ = models.build_finetune_model(arch, CONFIG["head"], N_CLASSES, 32, 32, weights=None)
    preprocess = keras.Model(model.input, model.get_layer("preprocess").output)
    x = raw_pixels(4, 32, seed=1)

    ours = keras.ops.convert_to_numpy(preprocess(x))
    reference = getattr(keras.applications, arch["preprocess"]).preprocess_input(x.copy())

    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-4)
    assert not np.allclose(ours, x)  # it did transform the pixels


def test_saved_model_reloads_with_identical_predictions(tmp_path):
    arch = arch_config("mobilenet_v2")
    # image_size != data size: the Resizing layer is saved too
    model, _ = models.build_finetune_model(arch, CONFIG["head"], N_CLASSES, 32, 48, weights=None)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = tmp_path / "model.keras"
    save_inference_model(model, path)
    assert path.is_file()
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write left no temporary file

    reloaded = keras.models.load_model(path)
    assert isinstance(reloaded.get_layer("preprocess"), models.Preprocess)
    assert reloaded.get_layer("preprocess").module == arch["preprocess"]
    assert getattr(reloaded, "optimizer", None) is None  # inference model: no optimizer state
    x = raw_pixels(5, 32, seed=2)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        rtol=1e-6, atol=1e-7,
    )


# ---------------------------------------------------------------- 6. initial weights

def test_resolve_weights(tmp_path):
    assert models.resolve_weights(None) is None
    assert models.resolve_weights("imagenet") == "imagenet"
    with pytest.raises(ConfigError, match="missing.h5"):
        models.resolve_weights("weights/missing.h5", base_dir=tmp_path)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "present.h5").write_bytes(b"")
    resolved = models.resolve_weights("weights/present.h5", base_dir=tmp_path)
    assert Path(resolved).resolve() == (tmp_path / "weights" / "present.h5").resolve()
    with pytest.raises(ConfigError):  # a folder is not a weights file
        models.resolve_weights("weights", base_dir=tmp_path)


def test_build_base_names_a_missing_weights_file(tmp_path):
    with pytest.raises(ConfigError, match=r"weights file '.*missing\.h5' not found"):
        models.build_base(arch_config("mobilenet_v2"), 32, str(tmp_path / "missing.h5"))


def test_imagenet_weights_offline_is_one_line_pointing_to_pre_staging(monkeypatch):
    """No network and no Keras cache: file_utils.get_file raises what Keras raises when urlretrieve fails."""
    def offline_get_file(fname, origin, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline_get_file)
    with pytest.raises(ConfigError) as error:
        models.build_base(arch_config("mobilenet_v2"), 32, "imagenet")
    message = str(error.value)
    assert message.startswith("weights: imagenet: cannot download the MobileNetV2 ImageNet weights, and they are "
                              "not in the Keras cache (~/.keras/models) (URL fetch failure on https://")
    assert message.endswith("Temporary failure in name resolution); on nodes without internet pre-stage them "
                            "(docs/cluster.md, 'Pre-staging ImageNet weights')")
    assert "\n" not in message
    page = (ROOT / "docs" / "cluster.md").read_text()
    assert "\n## Pre-staging ImageNet weights\n" in page


def test_other_construction_errors_keep_their_type(monkeypatch):
    def broken_get_file(fname, origin, **kwargs):
        raise ValueError("hash mismatch")

    monkeypatch.setattr(file_utils, "get_file", broken_get_file)
    with pytest.raises(ValueError, match="hash mismatch"):
        models.build_base(arch_config("mobilenet_v2"), 32, "imagenet")


def _h5_dataset(path: Path, layer: str, weight: str) -> np.ndarray:
    """The stored value of `layer`'s `weight` (e.g. kernel), found by name in a Keras HDF5 weights file."""
    found = []
    with h5py.File(path, "r") as f:
        f[layer].visititems(lambda name, obj: found.append(obj[()]) if isinstance(obj, h5py.Dataset)
                            and name.split("/")[-1].split(":")[0] == weight else None)
    assert len(found) == 1, f"{layer}/{weight}: {len(found)} datasets in {path}"
    return found[0]


def test_build_base_loads_prestaged_weights_file():
    if not SHARED_WEIGHTS.is_file():
        pytest.skip(f"pre-staged ImageNet weights not available: {SHARED_WEIGHTS} is absent "
                    "(../shared is provided to developers and CI, not in a fresh clone)")
    arch = arch_config("mobilenet_v2")
    weights = models.resolve_weights(f"../shared/weights/{WEIGHTS_NAME}", base_dir=ROOT)

    loaded = models.build_base(arch, 32, weights)
    random = models.build_base(arch, 32, None)

    # the file predates Keras 3 (legacy layer names for the inner blocks, loaded by position): the first and
    # the last layers keep their names, so both ends of the network are checked
    for layer, weight in [("Conv1", "kernel"), ("bn_Conv1", "moving_mean"), ("Conv_1", "kernel"),
                          ("Conv_1_bn", "gamma")]:
        stored = _h5_dataset(SHARED_WEIGHTS, layer, weight)
        ours = keras.ops.convert_to_numpy(getattr(loaded.get_layer(layer), weight))
        np.testing.assert_array_equal(ours, stored, err_msg=f"{layer}.{weight}")
        assert not np.allclose(keras.ops.convert_to_numpy(getattr(random.get_layer(layer), weight)), stored)
