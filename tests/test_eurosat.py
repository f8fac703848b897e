"""Converting the public EuroSAT RGB release (folder or zip) into a study-shaped HDF5 file."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landcover_transfer.data.dataset import load_dataset
from landcover_transfer.data.eurosat import convert_eurosat
from landcover_transfer.workflow.errors import ConfigError, DataError

STUDY_CLASSES = ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
                 "Pasture", "PermanentCrop", "Residential", "River"]
MINI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eurosat-rgb-mini"


def make_release(root: Path, per_class: int = 10, classes=(*STUDY_CLASSES, "SeaLake")) -> Path:
    """A fake release: `root/<Class>/<Class>_<n>.jpg`, each class a flat colour so labels can be checked."""
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for n in range(1, per_class + 1):
            colour = (20 * label, 100, 5 * n)
            Image.new("RGB", (64, 64), colour).save(root / name / f"{name}_{n}.jpg", quality=95)
    return root


@pytest.mark.parametrize("layout", ["2750", "EuroSAT_RGB", ""])
def test_folder_layouts(tmp_path, layout):
    make_release(tmp_path / "release" / layout)
    dataset = convert_eurosat(tmp_path / "release", tmp_path / "out.h5")
    check_converted(dataset, tmp_path / "out.h5")


def test_zip(tmp_path):
    make_release(tmp_path / "release" / "2750")
    archive = shutil.make_archive(str(tmp_path / "EuroSAT"), "zip", tmp_path / "release")
    dataset = convert_eurosat(archive, tmp_path / "out.h5")
    check_converted(dataset, tmp_path / "out.h5")


def check_converted(dataset, path):
    assert dataset.class_names == STUDY_CLASSES  # SeaLake dropped, alphabetical order
    assert dataset.x_train.shape == (72, 64, 64, 3) and dataset.x_val.shape == (18, 64, 64, 3)
    assert np.bincount(dataset.y_train).tolist() == [8] * 9
    assert np.bincount(dataset.y_val).tolist() == [2] * 9
    # Each class was drawn with red = 20 * label: the images kept their labels.
    red = dataset.x_train[..., 0].mean(axis=(1, 2))
    np.testing.assert_allclose(red, 20 * dataset.y_train, atol=3)
    loaded = load_dataset(path)
    assert loaded.class_names == STUDY_CLASSES
    np.testing.assert_array_equal(loaded.x_val, dataset.x_val)
    np.testing.assert_array_equal(loaded.y_train, dataset.y_train)


def test_deterministic_and_seeded(tmp_path):
    make_release(tmp_path / "release")
    first, again, other = (convert_eurosat(tmp_path / "release", tmp_path / f"{i}.h5", seed=seed).y_train
                           for i, seed in enumerate((42, 42, 7)))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_bad_images_are_all_listed(tmp_path):
    root = make_release(tmp_path / "release", per_class=4)
    (root / "Forest" / "Forest_2.jpg").write_bytes(b"not a jpeg")
    Image.new("RGB", (32, 32)).save(root / "River" / "River_3.jpg")
    jpeg = (root / "Highway" / "Highway_1.jpg").read_bytes()
    (root / "Highway" / "Highway_1.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    with pytest.raises(DataError) as error:
        convert_eurosat(root, tmp_path / "out.h5")
    message = str(error.value)
    assert message.startswith(f"{root}: 3 of 36 images cannot be used")
    assert "Forest/Forest_2.jpg: unreadable" in message
    assert "Highway/Highway_1.jpg: unreadable" in message
    assert "River/River_3.jpg: 32x32, expected 64x64" in message
    assert not (tmp_path / "out.h5").exists()


def test_long_problem_lists_are_shortened(tmp_path):
    root = make_release(tmp_path / "release", per_class=3)
    for path in root.rglob("*.jpg"):
        path.write_bytes(b"junk")
    with pytest.raises(DataError) as error:
        convert_eurosat(root, tmp_path / "out.h5")
    lines = str(error.value).splitlines()
    assert lines[0].endswith("27 of 27 images cannot be used:")
    assert len(lines) == 1 + 20 + 1 and lines[-1].strip() == "... and 7 more"


def test_no_class_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hello")
    with pytest.raises(DataError, match=r"empty: no EuroSAT class folders found"):
        convert_eurosat(tmp_path / "empty", tmp_path / "out.h5")


RELEASE = ("AnnualCrop, Forest, HerbaceousVegetation, Highway, Industrial, Pasture, PermanentCrop, Residential, River, "
           "SeaLake")


def test_a_missing_class_folder_is_named_instead_of_shifting_the_labels(tmp_path):
    make_release(tmp_path / "release", per_class=3, classes=[c for c in (*STUDY_CLASSES, "SeaLake") if c != "Forest"])
    with pytest.raises(DataError) as error:
        convert_eurosat(tmp_path / "release", tmp_path / "out.h5")
    assert str(error.value) == (f"{tmp_path / 'release'}: class folder Forest missing; the release must hold exactly "
                                f"the class folders of data.eurosat.classes ({RELEASE})")
    assert not (tmp_path / "out.h5").exists()


def test_missing_and_extra_class_folders_are_named_together(tmp_path):
    make_release(tmp_path / "release", per_class=3, classes=[*STUDY_CLASSES, "Clouds"])
    with pytest.raises(DataError) as error:
        convert_eurosat(tmp_path / "release", tmp_path / "out.h5")
    assert str(error.value).startswith(f"{tmp_path / 'release'}: class folder SeaLake missing; "
                                       f"unexpected class folder Clouds; the release must hold exactly")


def test_labels_follow_the_configured_class_order(tmp_path):
    make_release(tmp_path / "release", per_class=3, classes=["Forest", "River", "SeaLake"])
    dataset = convert_eurosat(tmp_path / "release", tmp_path / "out.h5", classes=["River", "SeaLake", "Forest"],
                              exclude_classes=["SeaLake"], val_fraction=1 / 3)
    assert dataset.class_names == ["River", "Forest"]
    red = dataset.x_train[..., 0].mean(axis=(1, 2))  # red = 20 * index in make_release's list
    np.testing.assert_allclose(red, np.where(dataset.y_train == 0, 20, 0), atol=3)


def test_excluded_class_must_be_listed(tmp_path):
    make_release(tmp_path / "release", per_class=3)
    with pytest.raises(ConfigError, match=r"^data\.eurosat\.exclude_classes: Sealake not in data\.eurosat\.classes$"):
        convert_eurosat(tmp_path / "release", tmp_path / "out.h5", exclude_classes=["Sealake"])


def test_missing_source(tmp_path):
    with pytest.raises(DataError, match=r"EuroSAT\.zip: not found"):
        convert_eurosat(tmp_path / "EuroSAT.zip", tmp_path / "out.h5")


def test_real_sample(tmp_path):
    if not (MINI / "2750").is_dir():
        pytest.skip(f"EuroSAT RGB sample not found at {MINI} (shared data not present)")
    dataset = convert_eurosat(MINI, tmp_path / "mini.h5")
    assert dataset.class_names == STUDY_CLASSES
    assert len(dataset.y_train) + len(dataset.y_val) == 90
    assert (len(dataset.y_train), len(dataset.y_val)) == (72, 18)
    assert dataset.x_train.shape[1:] == (64, 64, 3) and dataset.x_train.dtype == np.uint8
    assert np.bincount(dataset.y_val, minlength=9).tolist() == [2] * 9
    assert load_dataset(tmp_path / "mini.h5").class_names == STUDY_CLASSES
