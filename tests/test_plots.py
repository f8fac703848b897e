"""Figures: each writes a non-empty PNG, also for a single variant, and leaves no temp files."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from landcover_transfer.reporting.plots import (
    plot_factor_effects,
    plot_leaderboard,
    plot_learning_curves,
    plot_variant_accuracy,
    plot_variant_curves,
)
from landcover_transfer.reporting.tables import finetune_table, leaderboard

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


# --- what a reader sees: axes from 0, chance level, legends off the data, marked epochs, data notes ----


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions draw, kept open (drawn) instead of written."""
    from landcover_transfer.reporting import plots

    drawn = []

    def keep(fig, path):
        fig.canvas.draw()
        drawn.append(fig)

    monkeypatch.setattr(plots, "_save", keep)
    yield drawn
    plots.plt.close("all")


def chance_lines(ax, value, horizontal):
    data = [line.get_ydata() if horizontal else line.get_xdata() for line in ax.lines]
    return [d for d in data if len(d) == 2 and np.allclose(d, value)]


def test_accuracy_bars_start_at_zero_with_the_chance_level(figures):
    plot_variant_accuracy(grid(), "unused.png", chance=1 / 9, note="synthetic demo data")
    ax = figures[0].axes[0]
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 1
    assert len(chance_lines(ax, 1 / 9, horizontal=True)) == 1
    assert "chance (0.111)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_title().endswith("(synthetic demo data)")


def test_leaderboard_legend_hides_no_bar_or_study_marker(figures):
    classical = pd.DataFrame([{"model": "xgboost", "accuracy": 0.85, "precision": 0.85, "recall": 0.85, "f1": 0.85}])
    board = leaderboard(classical, grid(), None, {"finetune/resnet50/full/standard": 0.99})
    plot_leaderboard(board, "unused.png", chance=0.25, note="synthetic demo data")
    fig = figures[0]
    ax = fig.axes[0]
    assert ax.get_xlim() == (0, 1)
    assert len(chance_lines(ax, 0.25, horizontal=False)) == 1
    renderer = fig.canvas.get_renderer()
    legend, axes_box = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert legend.x0 >= axes_box.x1  # right of the axes: over nothing that is plotted
    assert "synthetic demo data" in ax.get_title()


def test_learning_curves_one_panel_per_variant_with_best_epoch_and_phase_switch(figures):
    histories = {"last_block / none": history(5), "progressive / none": history(8, 0.02),
                 "progressive / standard": history(6)}
    histories["progressive / none"].loc[3, "val_accuracy"] = 0.99  # best epoch: 4
    plot_learning_curves(histories, "unused.png", "vgg16", phase_starts={"progressive / none": [2]}, ncols=2,
                         note="synthetic demo data")
    panels = [ax for ax in figures[0].axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == list(histories)
    assert len({ax.get_ylim() for ax in panels}) == 1  # shared axes
    assert all(ax.get_legend() is None for ax in panels) and len(figures[0].legends) == 1
    progressive = panels[1]
    stars = [line for line in progressive.lines if line.get_marker() == "*"]
    assert [tuple(s.get_xydata()[0]) for s in stars] == [(4, 0.99)]
    switches = [line.get_xdata()[0] for line in progressive.lines if line.get_linestyle() == "-."]
    assert switches == [2.5]  # between epochs 2 and 3: the second phase starts at (0-based) epoch 2
    assert not [line for line in panels[0].lines if line.get_linestyle() == "-."]
    assert figures[0]._suptitle.get_text() == "vgg16 (synthetic demo data)"


def test_variant_curves_accuracy_and_loss(figures):
    plot_variant_curves(history(6), "unused.png", "vgg16/progressive/none", [3])
    accuracy, loss = figures[0].axes
    assert (accuracy.get_ylabel(), loss.get_ylabel()) == ("Accuracy", "Loss")
    assert all([line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "-."] == [3.5]
               for ax in (accuracy, loss))
    assert figures[0]._suptitle.get_text() == "vgg16/progressive/none"


def test_accuracy_plots_draw_each_interval_as_an_error_bar(figures):
    df = grid(1, 2, 1).assign(accuracy_low=lambda d: d["accuracy"] - 0.03, accuracy_high=lambda d: d["accuracy"] + 0.02)
    plot_variant_accuracy(df, "unused.png")
    board = leaderboard(None, df, None, level=0.95)
    plot_leaderboard(board, "unused.png", interval=["95% CI Low (Wilson)", "95% CI High (Wilson)"])
    for fig, axis in zip(figures, ("y", "x"), strict=True):
        bars = [segment for collection in fig.axes[0].collections if hasattr(collection, "get_segments")
                for segment in collection.get_segments()]
        ends = sorted((round(s[0][1 if axis == "y" else 0], 4), round(s[1][1 if axis == "y" else 0], 4)) for s in bars)
        assert ends == sorted((round(a - 0.03, 4), round(a + 0.02, 4)) for a in df["accuracy"]), axis
