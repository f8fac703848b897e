"""The dataset loader (layouts, validation errors), write_dataset and the fit/selection/evaluation splits."""

import h5py
import numpy as np
import pytest

from landcover_transfer.data.dataset import Dataset, load_dataset, write_dataset
from landcover_transfer.data.splits import Splits, make_splits
from landcover_transfer.workflow.errors import ConfigError, DataError

N_CLASSES, TRAIN_PER_CLASS, VAL_PER_CLASS, SIZE = 3, 6, 3, 8


def arrays(seed=0):
    """A small valid dataset: 3 classes, 18 train and 9 val images of 8x8."""
    rng = np.random.default_rng(seed)
    y_train = np.repeat(np.arange(N_CLASSES), TRAIN_PER_CLASS)
    y_val = np.repeat(np.arange(N_CLASSES), VAL_PER_CLASS)
    return {
        "x_train": rng.integers(0, 256, (len(y_train), SIZE, SIZE, 3), dtype=np.uint8),
        "y_train": y_train,
        "x_val": rng.integers(0, 256, (len(y_val), SIZE, SIZE, 3), dtype=np.uint8),
        "y_val": y_val,
    }


def write_h5(path, data: dict, attrs: dict | None = None):
    with h5py.File(path, "w") as f:
        for key, value in data.items():
            f.create_dataset(key, data=value)
        f.attrs.update(attrs or {})
    return path


def renamed(data: dict, x: str, y: str, val: str = "val") -> dict:
    """`data` under the key layout with patterns x and y, e.g. 'X_{s}' and 'y_{s}'."""
    return {x.format(s="train"): data["x_train"], y.format(s="train"): data["y_train"],
            x.format(s=val): data["x_val"], y.format(s=val): data["y_val"]}


def bad_file(tmp_path, **changes):
    """A file with the flat layout and some arrays replaced."""
    return write_h5(tmp_path / "bad.h5", {**arrays(), **changes})


# --- layouts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("x, y, val", [
    ("X_{s}", "y_{s}", "val"),
    ("x_{s}", "y_{s}", "val"),
    ("{s}_images", "{s}_labels", "val"),
    ("{s}_images", "{s}_labels", "valid"),
    ("{s}_images", "{s}_labels", "validation"),
    ("{s}_images", "{s}_labels", "test"),
    ("{s}/images", "{s}/labels", "val"),
    ("{s}/x", "{s}/y", "test"),
])
def test_detects_layout(tmp_path, x, y, val):
    data = arrays()
    dataset = load_dataset(write_h5(tmp_path / "d.h5", renamed(data, x, y, val)))
    for name, value in data.items():
        np.testing.assert_array_equal(getattr(dataset, name), value)
    assert dataset.x_train.dtype == np.uint8 and dataset.y_train.dtype == np.int64
    assert dataset.class_names == ["class_0", "class_1", "class_2"]


def test_explicit_keys_win_over_a_detected_layout(tmp_path):
    data, other = arrays(), arrays(seed=1)
    path = write_h5(tmp_path / "d.h5", {**renamed(other, "X_{s}", "y_{s}"), **renamed(data, "my/{s}_px", "my/{s}_cls"),
                                        "names": np.array([b"a", b"b", b"c"])})
    keys = {"x_train": "my/train_px", "y_train": "my/train_cls", "x_val": "my/val_px", "y_val": "my/val_cls",
            "class_names": "names"}
    dataset = load_dataset(path, keys=keys)
    np.testing.assert_array_equal(dataset.x_train, data["x_train"])
    assert dataset.class_names == ["a", "b", "c"]


def test_explicit_key_missing_from_file(tmp_path):
    path = write_h5(tmp_path / "d.h5", arrays())
    keys = {"x_train": "x_train", "y_train": "y_train", "x_val": "images_val", "y_val": "y_val"}
    with pytest.raises(DataError, match=r"d\.h5: key 'images_val' \(data\.keys\.x_val\) is not in the file.*x_train"):
        load_dataset(path, keys=keys)


def test_incomplete_keys_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="missing: y_val"):
        load_dataset(write_h5(tmp_path / "d.h5", arrays()), keys={"x_train": "a", "y_train": "b", "x_val": "c"})


def test_one_hot_labels(tmp_path):
    data = arrays()
    one_hot = {k: np.eye(N_CLASSES, dtype=np.float32)[data[k]] for k in ("y_train", "y_val")}
    dataset = load_dataset(write_h5(tmp_path / "d.h5", {**data, **one_hot}))
    np.testing.assert_array_equal(dataset.y_val, data["y_val"])
    assert dataset.y_val.dtype == np.int64 and len(dataset.class_names) == N_CLASSES


def test_float_images_in_0_1_are_scaled_to_0_255(tmp_path):
    data = arrays()
    scaled = {k: data[k].astype(np.float64) / 255 for k in ("x_train", "x_val")}
    dataset = load_dataset(write_h5(tmp_path / "d.h5", {**data, **scaled}))
    assert dataset.x_train.dtype == np.float32
    np.testing.assert_allclose(dataset.x_train, data["x_train"], atol=1e-3)


def test_float_images_in_0_255_are_kept(tmp_path):
    data = arrays()
    floats = {k: data[k].astype(np.float32) for k in ("x_train", "x_val")}
    dataset = load_dataset(write_h5(tmp_path / "d.h5", {**data, **floats}))
    np.testing.assert_array_equal(dataset.x_val, data["x_val"])


@pytest.mark.parametrize("key, low, high", [
    ("x_train", 0.0, 10000.0),  # Sentinel-2 reflectances
    ("x_val", -1.0, 1.0),  # normalised pixels
    ("x_val", -0.5, 200.0),
])
def test_float_images_outside_0_255_are_rejected_with_the_range_found(tmp_path, key, low, high):
    x = np.linspace(low, high, arrays()[key].size).reshape(arrays()[key].shape).astype(np.float32)
    path = bad_file(tmp_path, **{key: x, **{k: arrays()[k].astype(np.float32) for k in ("x_train", "x_val")
                                           if k != key}})
    with pytest.raises(DataError) as error:
        load_dataset(path)
    assert str(error.value) == (f"{path}: key '{key}' holds float values from {low:g} to {high:g}; expected RGB "
                                f"pixel values in 0..255 (or 0..1, scaled to 0..255): rescale the images")


def test_float_images_at_the_ends_of_0_255_are_accepted(tmp_path):
    data = arrays()
    ends = {k: np.where(data[k] % 2, 255.0, 0.0).astype(np.float32) for k in ("x_train", "x_val")}
    dataset = load_dataset(write_h5(tmp_path / "d.h5", {**data, **ends}))
    assert dataset.x_train.min() == 0 and dataset.x_train.max() == 255


@pytest.mark.parametrize("where", ["dataset", "attribute"])
@pytest.mark.parametrize("key", ["class_names", "classes", "label_names"])
def test_class_names_from_file(tmp_path, where, key):
    names = np.array([b"Forest", b"River", b"Highway"])
    extra, attrs = ({key: names}, {}) if where == "dataset" else ({}, {key: names})
    dataset = load_dataset(write_h5(tmp_path / "d.h5", {**arrays(), **extra}, attrs), class_names=["x", "y", "z"])
    assert dataset.class_names == ["Forest", "River", "Highway"]


def test_class_names_from_argument(tmp_path):
    dataset = load_dataset(write_h5(tmp_path / "d.h5", arrays()), class_names=["a", "b", "c"])
    assert dataset.class_names == ["a", "b", "c"]


def test_round_trip(tmp_path):
    data = arrays()
    original = Dataset(**data, class_names=["Forest", "River", "Highway"])
    write_dataset(tmp_path / "out" / "d.h5", original)
    loaded = load_dataset(tmp_path / "out" / "d.h5")
    for name in data:
        np.testing.assert_array_equal(getattr(loaded, name), data[name])
    assert loaded.class_names == original.class_names
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["d.h5"]  # no temporary left behind


# --- validation errors ------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nothere\.h5: file not found"):
        load_dataset(tmp_path / "nothere.h5")


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataError, match=r"junk\.h5: cannot read it as HDF5"):
        load_dataset(path)


def test_truncated_hdf5_file(tmp_path):
    path = write_h5(tmp_path / "cut.h5", arrays())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"cut\.h5: cannot read it as HDF5"):
        load_dataset(path)


def test_no_recognisable_layout(tmp_path):
    path = write_h5(tmp_path / "d.h5", {"images": arrays()["x_train"], "targets": arrays()["y_train"]})
    with pytest.raises(DataError, match=r"no recognisable .*images, targets.*data\.keys"):
        load_dataset(path)


@pytest.mark.parametrize("changes, message", [
    ({"x_train": np.zeros((18, SIZE, SIZE), np.uint8)}, r"key 'x_train' has shape \(18, 8, 8\); images must be 4-D"),
    ({"x_val": np.zeros((9, SIZE, SIZE, 4), np.uint8)}, r"key 'x_val' .*4 channels, expected 3"),
    ({"x_train": np.zeros((18, SIZE, SIZE + 2, 3), np.uint8)}, r"key 'x_train' .*8x10, not square"),
    ({"x_val": np.zeros((9, 16, 16, 3), np.uint8)}, r"are 8x8 but validation images \('x_val'\) are 16x16"),
    ({"y_train": np.repeat(np.arange(3), 5)}, r"key 'y_train' has 15 labels but 'x_train' has 18 images"),
    ({"x_val": np.full((9, SIZE, SIZE, 3), np.nan)}, r"key 'x_val' has 1728 NaN or infinite values"),
    ({"y_val": np.repeat([0.0, 1.5, 2.0], 3)}, r"key 'y_val' has label 1.5, but labels must be integer"),
    ({"y_train": np.repeat([-1, 1, 2], 6)}, r"key 'y_train' has label -1, but labels must be 0 or more"),
    ({"y_val": np.repeat([0, 2], [3, 6])}, r"key 'y_val' has no images of class 'class_1' \(label 1\)"),
    ({"y_val": np.eye(4)[np.repeat([0, 1, 2, 3], [3, 3, 2, 1])]}, r"one-hot labels have 3 columns in 'y_train' but 4"),
    ({"y_val": np.full((9, 3), 0.5)}, r"key 'y_val' .*rows are not one-hot"),
    ({"x_val": np.zeros((9, SIZE, SIZE, 3), np.float32)}, r"'x_train' holds values in 0..255 but 'x_val' in 0..1"),
])
def test_bad_arrays(tmp_path, changes, message):
    if "one-hot" in message:  # needs one-hot train labels to compare widths with
        changes["y_train"] = np.eye(3)[arrays()["y_train"]]
    with pytest.raises(DataError, match=message):
        load_dataset(bad_file(tmp_path, **changes))


def test_label_beyond_the_class_names(tmp_path):
    path = bad_file(tmp_path, y_val=np.repeat([0, 1, 2, 3], [3, 3, 2, 1]))
    with pytest.raises(DataError, match=r"bad\.h5: key 'y_val' has label 3, but there are 3 classes \(0\.\.2\)"):
        load_dataset(path, class_names=["a", "b", "c"])


def test_label_beyond_the_expected_classes(tmp_path):
    with pytest.raises(DataError, match=r"key 'y_train' has label 2, but there are 2 classes \(0\.\.1\)"):
        load_dataset(bad_file(tmp_path), expected_classes=2)


def test_class_absent_from_the_train_split(tmp_path):
    path = bad_file(tmp_path, y_train=np.repeat([0, 1], 9))
    with pytest.raises(DataError, match=r"key 'y_train' has no images of class 'c' \(label 2\)"):
        load_dataset(path, class_names=["a", "b", "c"])


def test_class_names_disagree_with_the_number_of_classes(tmp_path):
    path = write_h5(tmp_path / "bad.h5", arrays(), attrs={"classes": np.array([b"a", b"b", b"c", b"d"])})
    with pytest.raises(DataError, match=r"number of classes does not agree: attribute 'classes' in the file gives 4; "
                                        r"the expected number of classes gives 3 \(class names: a, b, c, d\)"):
        load_dataset(path, expected_classes=3)


def test_numbers_under_a_class_names_key_are_not_names(tmp_path):
    dataset = load_dataset(bad_file(tmp_path, classes=np.array([6, 6, 6])), class_names=["a", "b", "c"])
    assert dataset.class_names == ["a", "b", "c"]


# --- splits -----------------------------------------------------------------------------------------

def dataset(per_class=20, classes=3):
    rng = np.random.default_rng(0)
    y_train, y_val = np.repeat(np.arange(classes), per_class), np.repeat(np.arange(classes), per_class // 2)
    rng.shuffle(y_train)
    return Dataset(rng.integers(0, 256, (len(y_train), 4, 4, 3), dtype=np.uint8), y_train,
                   rng.integers(0, 256, (len(y_val), 4, 4, 3), dtype=np.uint8), y_val,
                   [f"c{i}" for i in range(classes)])


def test_honest_splits_are_stratified_disjoint_and_complete():
    data = dataset()
    splits = make_splits(data, "honest", 0.25, seed=1)
    assert splits.selection_split == "train"
    assert len(splits.selection_index) == 15 and len(splits.fit_index) == 45
    assert not set(splits.fit_index) & set(splits.selection_index)
    assert sorted([*splits.fit_index, *splits.selection_index]) == list(range(60))
    assert np.bincount(splits.y_selection).tolist() == [5, 5, 5]
    parts = splits.arrays(data)
    assert np.bincount(parts["y_fit"]).tolist() == [15, 15, 15]
    np.testing.assert_array_equal(parts["x_selection"], data.x_train[splits.selection_index])
    np.testing.assert_array_equal(parts["x_evaluation"], data.x_val)
    np.testing.assert_array_equal(parts["y_evaluation"], data.y_val)


def test_honest_splits_are_deterministic():
    data = dataset()
    first, again, other = (make_splits(data, "honest", 0.25, seed) for seed in (1, 1, 2))
    np.testing.assert_array_equal(first.selection_index, again.selection_index)
    assert not np.array_equal(first.selection_index, other.selection_index)


def test_study_protocol_selects_on_the_val_split():
    data = dataset()
    splits = make_splits(data, "study", 0.25, seed=1)
    parts = splits.arrays(data)
    assert splits.selection_split == "val"
    np.testing.assert_array_equal(parts["x_fit"], data.x_train)
    np.testing.assert_array_equal(parts["x_selection"], data.x_val)
    np.testing.assert_array_equal(parts["y_selection"], parts["y_evaluation"])


@pytest.mark.parametrize("protocol", ["honest", "study"])
def test_splits_save_and_load(tmp_path, protocol):
    splits = make_splits(dataset(), protocol, 0.25, seed=3)
    splits.save(tmp_path / "splits.npz")
    loaded = Splits.load(tmp_path / "splits.npz")
    assert (loaded.protocol, loaded.selection_split, loaded.class_names) == \
           (splits.protocol, splits.selection_split, splits.class_names)
    for field in ("fit_index", "selection_index", "y_selection", "y_evaluation"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(splits, field))


def test_unknown_protocol():
    with pytest.raises(ConfigError, match="unknown split protocol 'fair'; use one of honest, study"):
        make_splits(dataset(), "fair", 0.25, seed=1)


def test_selection_fraction_too_small():
    with pytest.raises(ConfigError, match=r"selection_fraction 0.02 of 60 training images gives a selection split "
                                          r"of 2 .* \(3 classes\); use a fraction between 0.05 and 0.95"):
        make_splits(dataset(), "honest", 0.02, seed=1)


def test_splits_of_another_dataset_are_refused():
    splits = make_splits(dataset(per_class=20), "honest", 0.25, seed=1)
    with pytest.raises(DataError, match="does not match the dataset"):
        splits.arrays(dataset(per_class=30))
