"""One scene's land-cover map and what is read from it, from the configured settings: the job of rule
predict_scene."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from landcover_transfer.predict.outputs import areas_table, write_areas, write_quicklook
from landcover_transfer.predict.scene import class_colours, open_scene, predict_scene, scene_sample
from landcover_transfer.predict.value_mapping import channel_gains
from landcover_transfer.workflow.atomic_files import write_json
from landcover_transfer.workflow.errors import DataError


def scene_mapping(path: str, scene: dict, value_mapping: dict, training_stats: dict | None) -> tuple[dict, list]:
    """The value mapping of a scene (its gains from a decimated sample) and its RGB band indexes; fails on a scene
    that cannot be read or mapped before any model is loaded."""
    raster, indexes = open_scene(path, scene["bands"])
    with raster:
        sample = scene_sample(raster, indexes)
    settings = {**value_mapping, "reflectance_scale": scene["reflectance_scale"], "offset": scene["offset"]}
    return channel_gains(value_mapping["method"], settings, sample, training_stats), indexes


def check_models(models: list, names: list[str], class_names: list[str]) -> int:
    """The window size (the models' input side); one line per model that cannot map these classes."""
    from landcover_transfer.finetune.models import check_class_count

    for model, name in zip(models, names, strict=True):
        check_class_count(model, name, class_names)
    sizes = {model.input_shape[1] for model in models}
    if len(sizes) != 1:
        raise DataError(f"predict.model: the models take windows of different sizes {sorted(sizes)}")
    return sizes.pop()


def map_scene(name: str, path: str, scene: dict, settings: dict, load_models: Callable[[], list],
              model_names: list[str], class_names: list[str], training_stats: dict | None, outputs) -> dict:
    """classes.tif, probabilities.tif, areas.csv, quicklook.png and summary.json of one scene; the models are
    loaded (`load_models()`) once the scene has been read and its value mapping found."""
    from landcover_transfer.predict.scene import window_predictor

    mapping, indexes = scene_mapping(path, scene, settings["value_mapping"], training_stats)
    models = load_models()
    size = check_models(models, model_names, class_names)
    started = time.perf_counter()
    predict = window_predictor(models, settings["batch_size"], settings["test_time_augmentation"])
    colours = {key: settings[key] for key in ("colours", "colormap")}
    facts = predict_scene(path, scene["bands"], mapping, predict, size, settings["stride"], class_names,
                          settings["unknown_below"], colours,
                          {"classes": outputs.classes, "probabilities": outputs.probabilities})
    seconds = time.perf_counter() - started
    table = areas_table(facts["counts"], class_names, facts["pixel_area_m2"])
    write_areas(table, outputs.areas)
    write_quicklook(path, indexes, mapping, outputs.classes, class_colours(class_names, **colours),
                    table, f"{name}: {' + '.join(model_names)}", outputs.quicklook)
    mapped = int(np.sum(facts["counts"]))
    summary = {"scene": name, "path": str(path), "models": model_names, "window": size, "stride": settings["stride"],
               "test_time_augmentation": settings["test_time_augmentation"], "value_mapping": mapping,
               "unknown_below": settings["unknown_below"],
               "confident_share": facts["confident_pixels"] / mapped if settings["unknown_below"] is not None
               else None, "seconds": round(seconds, 1),
               "km2": mapped * facts["pixel_area_m2"] / 1e6 if facts["pixel_area_m2"] else None,
               **{key: facts[key] for key in ("width", "height", "crs", "bands", "pixel_area_m2")},
               "shares": dict(zip(table["class"], table["share"].round(6), strict=True))}
    write_json(outputs.summary, summary)
    return summary
