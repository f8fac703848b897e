"""Figures: each writes a non-empty PNG, also for a single variant, and leaves no temp files."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from landcover_transfer.plots import (
    plot_factor_effects,
    plot_leaderboard,
    plot_learning_curves,
    plot_variant_accuracy,
)
from landcover_transfer.tables import finetune_table, leaderboard

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert path.is_file()
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temp file left


def grid(n_archs=2, n_strategies=3, n_augs=2):
    rows = []
    for k, (a, s, g) in enumerate(itertools.product(["vgg16", "resnet50", "efficientnet"][:n_archs],
                                                    ["head_only", "last_block", "full"][:n_strategies],
                                                    ["none", "standard"][:n_augs])):
        rows.append({"name": f"{a}/{s}/{g}", "architecture": a, "strategy": s, "augmentation": g,
                     "accuracy": 0.9 + 0.005 * k, "precision": 0.9, "recall": 0.9, "f1": 0.9,
                     "train_accuracy": 0.95, "val_accuracy": 0.92})
    return pd.DataFrame(rows)


def history(epochs, offset=0.0):
    e = np.arange(epochs)
    return pd.DataFrame({"epoch": e, "accuracy": 0.6 + 0.03 * e + offset, "loss": 1.0 / (e + 1),
                         "val_accuracy": 0.58 + 0.03 * e + offset, "val_loss": 1.1 / (e + 1),
                         "learning_rate": 1e-4})


@pytest.mark.parametrize("shape", [(2, 3, 2), (1, 1, 1)])
def test_variant_accuracy_and_factor_effects(tmp_path, shape):
    df = grid(*shape)
    plot_variant_accuracy(df, tmp_path / "variants.png", strategy_order=["full", "head_only"])
    plot_factor_effects(df, tmp_path / "effects.png", orders={"strategy": ["full"]})
    assert_png(tmp_path / "variants.png")
    assert_png(tmp_path / "effects.png")


def test_plots_accept_the_formatted_finetune_table(tmp_path):
    table = finetune_table(grid())
    plot_variant_accuracy(table, tmp_path / "variants.png")
    plot_factor_effects(table, tmp_path / "effects.png")
    assert_png(tmp_path / "variants.png")
    assert_png(tmp_path / "effects.png")


def test_learning_curves(tmp_path):
    plot_learning_curves({"head_only/none": history(5), "full/standard": history(8, 0.02)},
                         tmp_path / "curves.png", "vgg16")
    assert_png(tmp_path / "curves.png")
    plot_learning_curves({"only": history(1)}, tmp_path / "one.png", "single variant, single epoch")
    assert_png(tmp_path / "one.png")
    plot_learning_curves({}, tmp_path / "none.png", "nothing yet")
    assert_png(tmp_path / "none.png")


def test_leaderboard_plot(tmp_path):
    classical = pd.DataFrame([{"model": "xgboost", "accuracy": 0.85, "precision": 0.85, "recall": 0.85, "f1": 0.85}])
    board = leaderboard(classical, grid(), None, {"classical/xgboost": 0.87})
    plot_leaderboard(board, tmp_path / "board.png")
    assert_png(tmp_path / "board.png")
    single = leaderboard(None, grid(1, 1, 1), None, None)
    plot_leaderboard(single, tmp_path / "single.png")
    assert_png(tmp_path / "single.png")
