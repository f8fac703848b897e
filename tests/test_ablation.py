"""aggregate/ablation.py: the recipe's ablation table from the rows' results; config checks of the rows."""

import numpy as np
import pandas as pd
import pytest
import yaml

from landcover_transfer.aggregate.ablation import (
    ablation_table,
    per_class_over_seeds,
    recipe_markdown,
    seconds_per_epoch,
)
from landcover_transfer.workflow.config import ablation_batch_sizes, ablation_folders, ablation_problems

ROWS = [{"label": "base", "variant": "a/s/none"},
        {"label": "more", "variant": "a/t/none", "test_time_augmentation": True, "final": True}]


def history(seconds):
    return pd.DataFrame({"epoch": range(len(seconds)), "seconds": seconds})


def test_table_has_mean_std_over_seeds_and_the_change_from_the_row_before():
    metrics = [[{"accuracy": 0.80, "best_epoch": 3}, {"accuracy": 0.90, "best_epoch": 5}],
               [{"accuracy": 0.91, "best_epoch": 7}, {"accuracy": 0.93, "best_epoch": 8}]]
    histories = [[history([30, 10, 12]), history([20, 14])], [history([5, 6, 6, 6]), history([9])]]
    table = ablation_table(ROWS, metrics, histories, batch_sizes=[32, 16])
    assert table["Accuracy (mean)"].tolist() == pytest.approx([0.85, 0.92])
    assert table["Accuracy (std)"].tolist() == pytest.approx([np.std([0.8, 0.9], ddof=1), np.std([0.91, 0.93], ddof=1)])
    assert np.isnan(table["Change from the step before"].iloc[0])
    assert table["Change from the step before"].iloc[1] == pytest.approx(0.07)
    # the first epoch (graph tracing) is left out of the seconds, unless it is the only one
    assert table["Seconds per epoch"].tolist() == pytest.approx([(11 + 14) / 2, (6 + 9) / 2])
    assert table["Best epoch (mean)"].tolist() == [4.0, 7.5]
    assert table["TTA"].tolist() == ["", "8 views"] and table["Seeds"].tolist() == [2, 2]
    assert table["Batch size"].tolist() == [32, 16]
    assert seconds_per_epoch(history([7])) == 7


def test_a_side_rows_change_is_from_the_step_before_it_and_so_is_the_next_rows():
    rows = [ROWS[0], {"label": "without x", "variant": "a/u/none", "side": True}, ROWS[1]]
    metrics = [[{"accuracy": a, "best_epoch": 1}] for a in (0.80, 0.70, 0.90)]
    table = ablation_table(rows, metrics, [[history([1, 1])]] * 3, batch_sizes=[32] * 3)
    assert table["Change from the step before"].tolist()[1:] == pytest.approx([-0.10, 0.10])


def test_markdown_shows_percentages_and_the_final_rows_report_averaged_over_seeds():
    table = ablation_table(ROWS[:1], [[{"accuracy": 0.9, "best_epoch": 1}]], [[history([1.0, 2.0])]], [32])
    reports = [pd.DataFrame({"precision": [1.0, 0.5], "recall": [0.5, 1.0]}, index=pd.Index(["A", "B"], name="class")),
               pd.DataFrame({"precision": [0.0, 0.5], "recall": [0.5, 0.0]}, index=pd.Index(["A", "B"], name="class"))]
    per_class = per_class_over_seeds(reports)
    assert per_class.loc["A"].tolist() == [0.5, 0.5] and per_class.loc["B"].tolist() == [0.5, 0.5]
    training = {"epochs": 15, "early_stopping": {"monitor": "val_accuracy", "patience": 15}}
    text = recipe_markdown(table, "Recipe ablation", training, ROWS[1], per_class)
    lines = text.splitlines()
    header, base = (next(line for line in lines if line.startswith(start)) for start in ("| Step", "| base"))
    cells = dict(zip(*([cell.strip() for cell in line.split("|")] for line in (header, base)), strict=True))
    assert cells["Accuracy (mean)"] == "90.0" and cells["Batch size"] == "32"
    assert ("Every row trains at most 15 epochs and never stops early; its checkpoint is its epoch "
            "of best selection-split accuracy.") in text
    stopping = recipe_markdown(table, "t", {**training, "early_stopping": {"monitor": "val_loss", "patience": 5}})
    assert "stops after 5 epochs without a better selection-split loss; its checkpoint is" in stopping
    assert "## The recipe per class: a/t/none with test-time augmentation (mean over the seeds)" in text


def test_rows_must_name_variants_of_the_grid_and_one_final_at_most():
    config = {"finetune": {"architectures": ["a"], "strategies": ["s"], "augmentations": ["none"]},
              "ablation": [*ROWS, {**ROWS[0], "final": True}]}
    problems = ablation_problems(config)
    assert problems == ["ablation: row 'more' names a/t/none, which is not in the fine-tuning grid "
                        "(finetune.architectures x strategies x augmentations)",
                        "ablation: more than one row is marked final"]
    config["strategies"] = {"s": {"phases": []}, "t": {"phases": [], "batch_size": 16}}
    config["training"] = {"batch_size": 32}
    assert ablation_batch_sizes(config) == [32, 16, 32]
    assert ablation_folders(ROWS[1], [1, 2]) == ["results/finetune/a/t/none/seed1/tta",
                                                 "results/finetune/a/t/none/seed2/tta"]


def test_the_shipped_recipe_and_its_ablation_are_valid_configurations():
    from pathlib import Path

    from snakemake.utils import update_config

    from landcover_transfer.workflow.config import check_references
    from landcover_transfer.workflow.config_schema import validate_config

    config_dir = Path(__file__).resolve().parents[1] / "config"
    config = yaml.safe_load((config_dir / "config.yaml").read_text())
    for name in ("eurosat.yaml", "recipe-dev.yaml"):
        update_config(config, yaml.safe_load((config_dir / name).read_text()))
        validate_config(config, config_dir / "schema.yaml")
        check_references(config)
    # the row the per-class report follows is the recipe config/eurosat.yaml ships: its strategy (as defined there,
    # not redefined by the ablation) and augmentation are in that file's grid
    (final,) = [row for row in config["ablation"] if row.get("final")]
    _, strategy, augmentation = final["variant"].split("/")
    recipe = yaml.safe_load((config_dir / "eurosat.yaml").read_text())
    assert strategy in recipe["finetune"]["strategies"] and augmentation in recipe["finetune"]["augmentations"]
    assert config["strategies"][strategy] == recipe["strategies"][strategy]
