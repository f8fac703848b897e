"""predict/: land-cover maps of GeoTIFF scenes. The windows and their blending against a brute-force sum over the
whole scene, the value mappings, band choice and the errors before compute, then whole maps (COG, CRS, colour
table, nodata, unknown, areas) with numpy stand-ins for the model, a Keras model's checks, the synthetic scene and
the real shared Sentinel-2 scene. The rule itself runs in the tiny workflow (test_workflow.py)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from landcover_transfer.predict import (
    chips,
    evaluation,
    mapping_choice,
    maps,
    outputs,
    scene,
    synthetic_scene,
    value_mapping,
    windows,
)
from landcover_transfer.predict.bands import rgb_indexes
from landcover_transfer.workflow.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
SHARED_SCENE = REPO.parent / "shared" / "data" / "sentinel2-scene"
CLASSES = ["dark", "bright"]
FIXED = {"method": "fixed", "white": 0.2, "percentiles": [2, 98]}
COLOURS = {"colours": {"dark": "#000000", "elsewhere": "#ffffff"}, "colormap": "tab10"}  # bright: tab10's


def brute_force(pixels: np.ndarray, size: int, stride: int, predict) -> np.ndarray:
    """Every window's probabilities spread over its pixels with 2-D Hann weights, the whole scene in memory."""
    height, width = pixels.shape[:2]
    ramp = windows.hann_ramp(size)
    weight = np.outer(ramp, ramp)
    sums, total = None, np.zeros((height, width))
    for y in windows.window_starts(height, size, stride):
        for x in windows.window_starts(width, size, stride):
            p = predict(pixels[None, y:y + size, x:x + size])[0]
            sums = np.zeros((height, width, len(p))) if sums is None else sums
            sums[y:y + size, x:x + size] += weight[..., None] * p
            total[y:y + size, x:x + size] += weight
    return sums / total[..., None]


def brightness(windows_: np.ndarray) -> np.ndarray:
    """A stand-in classifier: P(bright) is a window's mean pixel value / 255."""
    bright = windows_.astype(np.float64).mean(axis=(1, 2, 3)) / 255
    return np.stack([1 - bright, bright], axis=1)


def test_windows_cover_every_pixel_and_end_flush():
    assert windows.window_starts(100, 64, 16).tolist() == [0, 16, 32, 36]
    assert windows.window_starts(64, 64, 16).tolist() == [0]
    with pytest.raises(DataError, match="less than one window of 64"):
        windows.window_starts(63, 64, 16)
    ramp = windows.hann_ramp(64)
    assert ramp.min() > 0 and ramp.argmax() in (31, 32) and np.allclose(ramp, ramp[::-1])


@pytest.mark.parametrize("height, width, size, stride", [(70, 90, 16, 4), (40, 33, 16, 16), (16, 50, 16, 5)])
def test_blended_rows_stream_the_brute_force_sum_row_by_row(height, width, size, stride):
    pixels = np.random.default_rng(0).uniform(0, 255, (height, width, 3)).astype(np.float32)
    read = []

    def read_strip(row):
        read.append(row)
        return pixels[row:row + size]

    blocks = list(windows.blended_rows(read_strip, height, width, size, stride, brightness))
    assert read == windows.window_starts(height, size, stride).tolist()  # each strip read once, top to bottom
    assert [row for row, _ in blocks] == read  # a block per strip, from its first row...
    assert sum(len(block) for _, block in blocks) == height  # ...to the next strip's: every row once
    assert [len(block) for _, block in blocks[:-1]] == np.diff(read).tolist()  # at most a stride of rows held back
    np.testing.assert_allclose(np.concatenate([block for _, block in blocks]),
                               brute_force(pixels, size, stride, brightness), rtol=1e-5, atol=1e-6)


def test_value_mappings_are_linear_per_channel_and_clipped():
    sample = np.random.default_rng(1).uniform(0, 3000, (5000, 3))
    fixed = value_mapping.channel_gains("fixed", {**FIXED, "reflectance_scale": 10000, "offset": 0}, sample)
    assert value_mapping.apply_mapping(np.array([[0, 1000, 2000, 2500]] * 3).T, fixed).tolist() == \
        [[0, 0, 0], [127.5, 127.5, 127.5], [255, 255, 255], [255, 255, 255]]  # reflectance 0.2 -> 255, clipped
    with_offset = value_mapping.channel_gains("fixed", {**FIXED, "reflectance_scale": 10000, "offset": -1000}, sample)
    assert value_mapping.apply_mapping(np.array([[2000, 2000, 2000]]), with_offset).tolist() == [[127.5] * 3]

    percentile = value_mapping.channel_gains("percentile", {**FIXED, "percentiles": [2, 98]}, sample)
    low, high = np.percentile(sample, [2, 98], axis=0)
    np.testing.assert_allclose(value_mapping.apply_mapping(np.stack([low, high]), percentile), [[0] * 3, [255] * 3],
                               atol=1e-3)

    stats = {"mean": [100.0, 110.0, 90.0], "std": [30.0, 20.0, 25.0]}
    matched = value_mapping.channel_gains("match_training", FIXED, sample, stats)
    unclipped = sample * np.array(matched["gain"]) + np.array(matched["bias"])
    np.testing.assert_allclose(unclipped.mean(axis=0), stats["mean"], atol=1e-6)
    np.testing.assert_allclose(unclipped.std(axis=0), stats["std"], atol=1e-6)
    with pytest.raises(ConfigError, match="needs the training images' statistics"):
        value_mapping.channel_gains("match_training", FIXED, sample)


def test_bands_by_number_or_sentinel2_name_and_one_line_errors():
    assert rgb_indexes([3, 2, 1], 3, ("Band 1", "Band 2", "Band 3"), "b123.tif") == [3, 2, 1]
    assert rgb_indexes(["B4", "B03", "b2"], 4, ("B02", "B03", "B04", "B08"), "s2.tif") == [3, 2, 1]
    with pytest.raises(ConfigError, match=r"no band is described as 'B4' \(descriptions: Band 1, Band 2, Band 3\); "
                                          "give its number instead"):
        rgb_indexes(["B4", "B3", "B2"], 3, ("Band 1", "Band 2", "Band 3"), "b123.tif")
    with pytest.raises(ConfigError, match="band 4 does not exist \\(the file has bands 1 to 3\\)"):
        rgb_indexes([4, 3, 2], 3, ("", "", ""), "b123.tif")
    with pytest.raises(DataError, match="has 1 band\\(s\\); a red, a green and a blue band are needed"):
        rgb_indexes([1, 1, 1], 1, ("",), "grey.tif")


def write_scene(path: Path, crs="EPSG:32630", nodata_corner=False) -> Path:
    """A 150 x 200 uint16 scene: the left half dark (reflectance 0.03), the right half bright (0.15)."""
    data = np.full((3, 150, 200), 300, np.uint16)
    data[:, :, 100:] = 1500
    profile = {"driver": "GTiff", "width": 200, "height": 150, "count": 3, "dtype": "uint16", "crs": crs,
               "transform": from_origin(400000, 5700000, 10, 10)}
    if nodata_corner:
        data[:, :40, :40] = 0
        profile["nodata"] = 0
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def test_a_scene_without_crs_or_too_small_fails_before_any_model(tmp_path):
    with pytest.raises(DataError, match="has no CRS, so its map could not be placed: assign one"):
        scene.open_scene(write_scene(tmp_path / "no_crs.tif", crs=None), [1, 2, 3])
    path = tmp_path / "scene.tif"
    write_scene(path)
    with pytest.raises(DataError, match="not a readable raster"):
        scene.open_scene(tmp_path / "absent.tif", [1, 2, 3])
    with pytest.raises(DataError, match="less than one window"):
        scene.predict_scene(path, [1, 2, 3], {"gain": [0.1] * 3, "bias": [0] * 3}, brightness, 256, 16, CLASSES,
                            None, COLOURS, {"classes": tmp_path / "c.tif", "probabilities": tmp_path / "p.tif"})


@pytest.fixture(scope="module")
def mapped(tmp_path_factory) -> SimpleNamespace:
    """A map of a scene with a nodata corner, by the brightness stand-in, with an `unknown` threshold."""
    tmp = tmp_path_factory.mktemp("mapped")
    path = write_scene(tmp / "scene.tif", nodata_corner=True)
    out = SimpleNamespace(**{name: tmp / f"{name}.{ext}" for name, ext in
                             (("classes", "tif"), ("probabilities", "tif"), ("areas", "csv"), ("summary", "json"),
                              ("quicklook", "png"))})
    settings = {"value_mapping": FIXED, "stride": 8, "test_time_augmentation": False, "unknown_below": 0.6,
                "batch_size": 64, **COLOURS}
    model = SimpleNamespace(input_shape=(None, 32, 32, 3), output_shape=(None, 2),
                            predict_on_batch=lambda x: brightness(x).astype(np.float32))
    summary = maps.map_scene("test", str(path), {"bands": [1, 2, 3], "reflectance_scale": 10000, "offset": 0},
                             settings, lambda: [model], ["brightness"], CLASSES, None, out)
    return SimpleNamespace(path=path, out=out, summary=summary)


def test_maps_are_cloud_optimised_and_on_the_scene_grid(mapped):
    with rasterio.open(mapped.path) as source, rasterio.open(mapped.out.classes) as classes, \
            rasterio.open(mapped.out.probabilities) as probabilities:
        for raster in (classes, probabilities):
            assert (raster.crs, raster.transform, raster.shape) == (source.crs, source.transform, source.shape)
        assert classes.dtypes == ("uint8",) and classes.nodata == scene.NODATA
        assert json.loads(classes.tags()["class_names"]) == [*CLASSES, "unknown"]
        assert classes.colormap(1)[0] == (0, 0, 0, 255)  # dark: as configured
        assert classes.colormap(1)[1] == tuple(round(255 * c) for c in matplotlib.colormaps["tab10"].resampled(2)(1))
        assert classes.colormap(1)[2] == (128, 128, 128, 255)  # unknown: grey
        labels, p = classes.read(1), probabilities.read().astype(float)
        assert probabilities.count == 2 and probabilities.descriptions == tuple(f"{c} probability x 255"
                                                                                for c in CLASSES)
        valid = probabilities.dataset_mask() > 0
    for path in (mapped.out.classes, mapped.out.probabilities):
        assert cog_validate(str(path))[0], cog_validate(str(path))
    assert (labels[:40, :40] == scene.NODATA).all() and not valid[:40, :40].any()  # the input's nodata corner
    assert (labels[40:, :60] == 0).all() and (labels[:, 140:] == 1).all()  # far from the edge: dark, bright
    unknown = labels[40:] == 2  # across the edge the windows mix both halves: below 0.6, unknown
    assert (unknown.any(axis=0) == unknown.all(axis=0)).all()  # whole columns...
    assert 84 < np.flatnonzero(unknown.all(axis=0)).min() < 100 < np.flatnonzero(unknown.all(axis=0)).max() < 116
    assert np.abs(p[:, valid].sum(axis=0) - 255).max() <= 1  # probabilities of 0..255 that sum to one


def test_areas_summary_and_quicklook_agree_with_the_map(mapped):
    with rasterio.open(mapped.out.classes) as classes:
        labels = classes.read(1)
    areas = pd.read_csv(mapped.out.areas)
    assert areas["class"].tolist() == [*CLASSES, "unknown"]
    counts = [int((labels == value).sum()) for value in range(3)]
    assert areas["pixels"].tolist() == counts and sum(counts) == 150 * 200 - 40 * 40
    assert areas["hectares"].tolist() == pytest.approx([c * 100 / 10_000 for c in counts])  # 10 m pixels
    assert areas["share"].sum() == pytest.approx(1)
    summary = json.loads(mapped.out.summary.read_text())
    assert summary["shares"]["unknown"] == pytest.approx(counts[2] / sum(counts), abs=1e-6)
    assert summary["confident_share"] == pytest.approx(1 - summary["shares"]["unknown"], abs=1e-6)
    assert summary["window"] == 32 and summary["km2"] == pytest.approx(sum(counts) * 100 / 1e6)
    assert mapped.out.quicklook.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_models_are_checked_against_the_classes_and_each_other():
    three = SimpleNamespace(input_shape=(None, 64, 64, 3), output_shape=(None, 3))
    with pytest.raises(DataError, match="predicts 3 classes, the dataset has 2 \\(dark, bright\\)"):
        maps.check_models([three], ["a/b/c"], CLASSES)
    two = [SimpleNamespace(input_shape=(None, s, s, 3), output_shape=(None, 2)) for s in (64, 32)]
    with pytest.raises(DataError, match="windows of different sizes \\[32, 64\\]"):
        maps.check_models(two, ["a/b/c", "d/e/f"], CLASSES)
    assert maps.check_models(two[:1], ["a/b/c"], CLASSES) == 64


def test_test_time_augmentation_averages_the_8_views_of_each_window():
    class Recorder:
        def __init__(self):
            self.calls = 0

        def predict_on_batch(self, batch):
            self.calls += 1
            return np.stack([batch[:, 0, 0, 0], 255 - batch[:, 0, 0, 0]], axis=1) / 255  # the top-left pixel

    model = Recorder()
    tile = np.zeros((1, 4, 4, 3))
    tile[0, 0, 0] = 255  # one bright corner: the top-left pixel of 2 of the 8 views
    averaged = scene.window_predictor([model], batch_size=8, tta=True)(tile)
    assert model.calls == 8 and averaged[0, 0] == pytest.approx(2 / 8)
    assert scene.window_predictor([model, model], batch_size=8, tta=False)(tile)[0, 0] == pytest.approx(1)


def test_synthetic_scene_places_each_image_and_maps_back_to_its_pixels(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8), np.arange(12) % 3
    shape = synthetic_scene.write_synthetic_scene(tmp_path / "s.tif", tmp_path / "l.tif", images, labels, 3, 0,
                                                  ["a", "b", "c"])
    assert shape == (24, 24)
    chosen = np.random.default_rng(0).choice(12, 9, replace=False)
    with rasterio.open(tmp_path / "s.tif") as raster, rasterio.open(tmp_path / "l.tif") as truth:
        assert raster.crs.to_string() == synthetic_scene.CRS and raster.res == (10.0, 10.0)
        mapping = value_mapping.channel_gains("fixed", {**FIXED, "reflectance_scale": 10000, "offset": 0},
                                              np.zeros((1, 3)))
        pixels = value_mapping.apply_mapping(np.moveaxis(raster.read(), 0, -1), mapping)
        assert np.abs(pixels[8:16, 16:24] - images[chosen[5]]).max() <= 0.5  # row 1, column 2: the 6th drawn
        assert (truth.read(1)[8:16, 16:24] == labels[chosen[5]]).all()


def write_raster(path: Path, values: np.ndarray, pixel_m: float, nodata: int | None = None) -> Path:
    profile = {"driver": "GTiff", "height": values.shape[0], "width": values.shape[1], "count": 1, "dtype": "uint8",
               "crs": "EPSG:32630", "transform": from_origin(500_000, 5_800_000, pixel_m, pixel_m), "nodata": nodata}
    with rasterio.open(path, "w", **profile) as raster:
        raster.write(values, 1)
    return path


def test_a_label_raster_of_another_resolution_is_scored_on_the_maps_grid(tmp_path):
    # labels at 20 m, the map at 10 m: each label pixel covers 2 x 2 map pixels (nearest neighbour)
    labels = np.array([[7, 3], [3, 9]], dtype=np.uint8)  # 9: nodata; label values 7 -> dark, 3 -> bright
    predicted = np.array([[0, 0, 1, 1],
                          [0, 1, 1, scene.NODATA],
                          [1, 2, 2, 0],   # 2: unknown (two classes)
                          [0, 1, 0, 0]], dtype=np.uint8)
    classes_path = write_raster(tmp_path / "classes.tif", predicted, 10.0, nodata=scene.NODATA)
    labels_path = write_raster(tmp_path / "labels.tif", labels, 20.0, nodata=9)
    lookup = evaluation.label_lookup({7: "dark", 3: "bright", 5: None}, CLASSES)
    table = evaluation.confusion(classes_path, labels_path, lookup, len(CLASSES))
    # rows: labelled dark (top left), bright (top right without its nodata pixel, bottom left); columns: dark,
    # bright, unknown
    assert table.tolist() == [[3, 1, 0], [1, 5, 1]]
    summary, per_class = evaluation.scores(table, CLASSES)
    assert summary == pytest.approx({"pixels": 11, "agreement": 8 / 11, "unknown_share": 1 / 11,
                                     "agreement_of_known": 0.8})
    assert per_class["recall"].tolist() == [0.75, round(5 / 7, 6)]
    assert per_class["precision"].tolist() == [0.75, round(5 / 6, 6)]
    frame = evaluation.confusion_frame(table, CLASSES)
    assert frame.loc["bright", "unknown"] == 1 and list(frame.columns) == [*CLASSES, "unknown"]
    with pytest.raises(DataError, match="maps to sea, which the model does not know"):
        evaluation.label_lookup({1: "sea"}, CLASSES)
    nothing = write_raster(tmp_path / "nothing.tif", np.full((2, 2), 9, dtype=np.uint8), 20.0, nodata=9)
    with pytest.raises(DataError, match="no labelled pixel overlaps the map"):
        evaluation.confusion(classes_path, nothing, lookup, len(CLASSES))


def test_chips_are_read_as_training_images_and_tabulated_with_their_folders_label(tmp_path):
    rng = np.random.default_rng(0)
    for name, side in (("dark/a.png", 16), ("bright/b.png", 16), ("c.jpg", 16), (".hidden/d.png", 16)):
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(tmp_path / "in" / name)
    files, pixels = chips.read_chips(tmp_path / "in", 16)
    assert files == ["bright/b.png", "c.jpg", "dark/a.png"] and pixels.shape == (3, 16, 16, 3)
    assert np.array_equal(pixels[0], np.asarray(Image.open(tmp_path / "in/bright/b.png")))
    probabilities = np.array([[0.2, 0.8], [0.55, 0.45], [0.3, 0.7]])
    table = chips.chip_table(files, probabilities, CLASSES, unknown_below=0.6)
    assert table["class"].tolist() == ["bright", "unknown", "bright"]
    assert table["folder"].tolist() == ["bright", "", "dark"]
    assert table[["p_dark", "p_bright"]].to_numpy().tolist() == probabilities.tolist()
    assert chips.chip_summary(table, CLASSES) == {"chips": 3, "classes": {"dark": 0, "bright": 2, "unknown": 1},
                                                  "labelled_chips": 2, "accuracy": 0.5}
    with pytest.raises(DataError, match=r"1 of 3 images cannot be used:\n  c.jpg: 16x16, expected 32x32"):
        Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(tmp_path / "in/dark/a.png")
        Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(tmp_path / "in/bright/b.png")
        chips.read_chips(tmp_path / "in", 32)
    with pytest.raises(DataError, match="no image file"):
        chips.read_chips((tmp_path / "empty").mkdir() or tmp_path / "empty", 16)


def test_areas_have_no_hectares_where_the_crs_is_in_degrees():
    table = outputs.areas_table([3, 1, 0], CLASSES, None)
    assert table["hectares"].isna().all() and table["share"].tolist() == [0.75, 0.25, 0]


@pytest.mark.skipif(not SHARED_SCENE.is_dir(), reason=f"the real Sentinel-2 scene is absent ({SHARED_SCENE})")
def test_the_real_sentinel2_scene_maps_on_its_british_national_grid(tmp_path):
    """The shared 3-band file is B2, B3, B4 (blue first): bands [3, 2, 1]; values are reflectance x 1,000. The 10-band
    file's descriptions are "Band n": Sentinel-2 band names fail there with one line."""
    path = SHARED_SCENE / "sen2_20210527_aber_subset_b123.tif"
    settings = {"bands": [3, 2, 1], "reflectance_scale": 1000, "offset": 0}
    mapping, indexes = maps.scene_mapping(str(path), settings, FIXED, None)
    assert indexes == [3, 2, 1] and mapping["gain"] == [255 / 200] * 3  # 0.2 x 1,000 -> 255
    out = {"classes": tmp_path / "classes.tif", "probabilities": tmp_path / "probabilities.tif"}
    facts = scene.predict_scene(path, [3, 2, 1], mapping, brightness, 64, 32, CLASSES, None, COLOURS, out)
    with rasterio.open(path) as source, rasterio.open(out["classes"]) as classes:
        assert classes.crs == source.crs and classes.crs.to_epsg() == 27700 and classes.transform == source.transform
        assert classes.read(1).max() <= 1  # no threshold: never unknown
    assert sum(facts["counts"]) == 324 * 339 and facts["pixel_area_m2"] == 100.0
    with pytest.raises(ConfigError, match="no band is described as 'B4'"):
        maps.scene_mapping(str(SHARED_SCENE / "sen2_20210527_aber_subset.tif"),
                           {**settings, "bands": ["B4", "B3", "B2"]}, FIXED, None)


def test_the_value_mappings_are_compared_by_distance_clipping_and_confidence(tmp_path):
    """A scene stored at reflectance x 10,000 whose pixels are the training pixels: `fixed` maps it back onto them
    (distance near 0); a 2-98 percentile stretch spreads it over 0..255 and clips the tails."""
    rng = np.random.default_rng(0)
    training = rng.normal([110, 100, 90], [25, 20, 15], (20_000, 3)).clip(0, 255).astype(np.float32)
    stored = np.rint(training[:200 * 100].reshape(200, 100, 3) / 255 * 2000).astype(np.uint16)
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=100, height=200, count=3, dtype="uint16",
                       crs="EPSG:32630", transform=from_origin(0, 0, 10, 10)) as dst:
        dst.write(np.moveaxis(stored, -1, 0))
    table = mapping_choice.compare_mappings(str(path), {"bands": [1, 2, 3], "reflectance_scale": 10000, "offset": 0},
                                            FIXED, training, brightness, 32, CLASSES, 0.6).set_index("method")
    assert list(table.index) == list(value_mapping.METHODS)
    assert table.loc["fixed", "distance_mean"] < 0.5 < table.loc["percentile", "distance_mean"]
    assert table.loc["match_training", "distance_mean"] < 1.5
    assert table.loc["percentile", "clipped_share"] == pytest.approx(0.04, abs=0.01)  # below 2%, above 98%
    assert table.loc["fixed", "gain_red"] == pytest.approx(255 / 2000)
    assert (table["windows"] == len(windows.window_starts(200, 32, 16)) * len(windows.window_starts(100, 32, 16))).all()
    shares = table[[f"share_{name}" for name in CLASSES]].sum(axis=1)
    assert np.allclose(shares, 1) and ((table["confident_share"] >= 0) & (table["confident_share"] <= 1)).all()


# --- the tiny run's maps, scores and chips (tests/config/predict.yaml) ----------------------------------------------

PREDICT_MODEL = "results/finetune/mobilenet_v2/last_block/standard/seed42"  # tests/config/predict.yaml's model


@pytest.mark.slow
def test_the_tiny_runs_map_is_scored_against_the_synthetic_scenes_labels(tiny_run):
    folder = tiny_run / "results/predict/synthetic"
    with rasterio.open(folder / "classes.tif") as classes, \
            rasterio.open(tiny_run / "results/predict/synthetic_scene/labels.tif") as labels:
        predicted, truth = classes.read(1), labels.read(1)
    summary = json.loads((folder / "evaluation.json").read_text())
    assert summary["pixels"] == truth.size and summary["agreement"] == pytest.approx(np.mean(predicted == truth))
    confusion = pd.read_csv(folder / "confusion.csv", index_col=0)
    assert int(np.trace(confusion.to_numpy()[:, :-1])) == int(np.sum(predicted == truth))
    per_class = pd.read_csv(folder / "evaluation.csv")
    assert per_class["labelled_pixels"].tolist() == np.bincount(truth.ravel(), minlength=len(per_class)).tolist()


@pytest.mark.slow
def test_the_tiny_runs_chips_get_the_probabilities_its_training_gave_the_same_images(tiny_run):
    table = pd.read_csv(tiny_run / "results/predict/chips/held_out/predictions.csv", keep_default_na=False)
    trained = np.load(tiny_run / PREDICT_MODEL / "proba_evaluation.npy")
    rows = [int(Path(file).stem) for file in table["file"]]  # conftest.py names each chip by its evaluation row
    assert sorted(rows) == list(range(len(trained)))
    probabilities = table[[c for c in table.columns if c.startswith("p_")]].to_numpy()
    assert np.abs(probabilities - trained[rows]).max() <= 1e-4
    summary = json.loads((tiny_run / "results/predict/chips/held_out/summary.json").read_text())
    assert summary["labelled_chips"] == len(trained)
    assert summary["accuracy"] == pytest.approx(np.mean(table["folder"] == table["class"]))
