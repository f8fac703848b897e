"""Figures of the fine-tuning grid and the leaderboard (matplotlib, Agg backend, atomic writes).

The fine-tuning functions take either a raw `tables.collect_metrics` frame (columns architecture,
strategy, augmentation, accuracy) or a `tables.finetune_table` (Architecture, ..., Evaluation
Accuracy). Level order follows the optional `*_order` arguments (config order), then first
appearance. A raw frame of `tables.collect_results` also has each accuracy's interval (accuracy_low,
accuracy_high): the plots draw it as error bars.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from landcover_transfer.reporting.pages import titled  # noqa: E402
from landcover_transfer.workflow.atomic_files import atomic_path  # noqa: E402

FACTORS = ("architecture", "strategy", "augmentation")
_HATCHES = ["", "//", "..", "xx", "\\\\", "oo", "--", "++"]
_TABLE_NAMES = {"Architecture": "architecture", "Strategy": "strategy", "Augmentation": "augmentation",
                "Evaluation Accuracy": "accuracy"}
_BOUNDS = ("accuracy_low", "accuracy_high")  # the interval of `tables.collect_results`
_ERROR_BARS = {"ecolor": "black", "elinewidth": 0.8, "capsize": 2}


def _save(fig, path: str | os.PathLike, dpi: int = 120) -> None:
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")  # "tight": legends placed outside the axes fit
    finally:
        plt.close(fig)


def _finetune_frame(df: pd.DataFrame) -> pd.DataFrame:
    """architecture, strategy, augmentation (str) and accuracy (float) from either frame layout."""
    out = df.rename(columns={k: v for k, v in _TABLE_NAMES.items() if k in df and v not in df})
    missing = [c for c in (*FACTORS, "accuracy") if c not in out]
    if missing:
        raise ValueError(f"fine-tuning frame lacks columns {missing}")
    out = out[[*FACTORS, "accuracy", *(c for c in _BOUNDS if c in out)]].copy()
    for c in FACTORS:
        out[c] = out[c].astype(str)
    for c in ("accuracy", *_BOUNDS):
        # without an interval the bounds are the accuracy itself: an error bar of length 0
        out[c] = pd.to_numeric(out[c] if c in out else out["accuracy"], errors="coerce")
    return out.reset_index(drop=True)


def _error_lengths(values, low, high) -> np.ndarray:
    """(2, n) lengths below and above each value, as matplotlib's yerr/xerr take them (0 where unknown)."""
    values, low, high = (np.asarray(v, dtype=float) for v in (values, low, high))
    return np.nan_to_num(np.vstack([values - low, high - values]))


def _levels(values: pd.Series, order: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(values.astype(str)))
    listed = [str(v) for v in (order or []) if str(v) in present]
    return listed + [v for v in present if v not in listed]


def _chance_line(draw, chance: float | None) -> list:
    """A dotted chance-level line (1 / number of classes) drawn with `ax.axhline` or `ax.axvline`."""
    if chance is None:
        return []
    return [draw(chance, color="grey", linestyle=":", linewidth=1.2, label=f"chance ({chance:.3f})", zorder=1)]


def plot_variant_accuracy(finetune_df: pd.DataFrame, path: str | os.PathLike,
                          architecture_order: Sequence[str] | None = None,
                          strategy_order: Sequence[str] | None = None,
                          augmentation_order: Sequence[str] | None = None, chance: float | None = None,
                          note: str = "") -> None:
    """Grouped bars of evaluation accuracy: groups = architectures, colour = strategy,
    hatch = augmentation; each bar labelled with its accuracy, its interval as an error bar. The y axis runs
    from 0 to 1, with the chance level (1 / number of classes) as a dotted line where `chance` is given; `note`
    goes in the title."""
    df = _finetune_frame(finetune_df)
    archs = _levels(df["architecture"], architecture_order)
    strategies = _levels(df["strategy"], strategy_order)
    augs = _levels(df["augmentation"], augmentation_order)
    colours = plt.get_cmap("tab10")
    slots = [(s, a) for s in strategies for a in augs]
    width = 0.8 / max(1, len(slots))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 + len(archs) * len(slots) * 0.45), 4.8))
    for k, (strategy, aug) in enumerate(slots):
        xs, rows = [], []
        for g, arch in enumerate(archs):
            row = df[(df["architecture"] == arch) & (df["strategy"] == strategy) & (df["augmentation"] == aug)]
            if row.empty:
                continue
            xs.append(g - 0.4 + width * (k + 0.5))
            rows.append(row.iloc[0])
        if not xs:
            continue
        ys = [float(row["accuracy"]) for row in rows]
        bars = ax.bar(xs, ys, width=width * 0.95, color=colours(strategies.index(strategy) % 10),
                      hatch=_HATCHES[augs.index(aug) % len(_HATCHES)], edgecolor="black", linewidth=0.5,
                      yerr=_error_lengths(ys, *([row[c] for row in rows] for c in _BOUNDS)), error_kw=_ERROR_BARS)
        for bar, row in zip(bars, rows, strict=True):
            if np.isfinite(row["accuracy"]):  # the label sits above the error bar
                top = np.nanmax([row["accuracy"], row["accuracy_high"]])
                ax.annotate(f"{row['accuracy']:.3f}", (bar.get_x() + bar.get_width() / 2, top), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", rotation=90, fontsize=7)
    ax.set_xticks(range(len(archs)), archs)
    ax.set_ylim(0, 1.1)  # room for the labels above a bar at 1.0
    ax.set_ylabel("Evaluation accuracy")
    ax.set_title(titled("Fine-tuned variants: evaluation accuracy", note))
    handles = [Patch(facecolor=colours(i % 10), edgecolor="black", label=s) for i, s in enumerate(strategies)]
    handles += [Patch(facecolor="white", edgecolor="black", hatch=_HATCHES[i % len(_HATCHES)], label=f"aug: {a}")
                for i, a in enumerate(augs)]
    handles += _chance_line(ax.axhline, chance)
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def _epochs(history: pd.DataFrame) -> pd.Series:
    """1-based epoch numbers of a CSVLogger frame."""
    return history["epoch"] + 1 if "epoch" in history else pd.Series(np.arange(1, len(history) + 1))


def _draw_curves(ax, history: pd.DataFrame, metric: str, phase_starts: Sequence[int]) -> None:
    """Training (solid) and selection split (dashed) curves of one metric, the best epoch (highest
    selection accuracy: the checkpoint kept) as a star and dotted line, each later phase's first epoch
    as a dash-dotted line."""
    epochs = _epochs(history)
    if metric in history:
        ax.plot(epochs, history[metric], color="tab:blue", linestyle="-", marker=".", label="training")
    if f"val_{metric}" in history:
        ax.plot(epochs, history[f"val_{metric}"], color="tab:orange", linestyle="--", marker=".",
                label="selection split")
    for start in phase_starts:
        ax.axvline(start + 0.5, color="tab:green", linestyle="-.", linewidth=1.2, label="next phase starts")
    if "val_accuracy" in history and len(history):
        best = int(history["val_accuracy"].to_numpy().argmax())
        ax.axvline(epochs.iloc[best], color="tab:red", linestyle=":", linewidth=1.2)
        if f"val_{metric}" in history:
            point = (epochs.iloc[best], history[f"val_{metric}"].iloc[best])
            ax.plot(*point, marker="*", markersize=13, color="tab:red", linestyle="",
                    label="best epoch (checkpoint kept)", zorder=3)
            ax.annotate(f"epoch {point[0]}", point, xytext=(0, 9), textcoords="offset points", ha="center",
                        fontsize=7, color="tab:red")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_learning_curves(histories: Mapping[str, pd.DataFrame], path: str | os.PathLike, title: str,
                         phase_starts: Mapping[str, Sequence[int]] | None = None, ncols: int | None = None,
                         note: str = "") -> None:
    """Small multiples of accuracy per epoch, one panel per variant (shared axes, `ncols` per row), each
    with its best epoch and phase switches marked (see `_draw_curves`); one legend for the figure.

    `histories` maps a panel label to a CSVLogger frame; `phase_starts[label]` lists the 0-based first
    epochs of the phases after the first.
    """
    labels = list(histories) or ["no history"]
    ncols = min(ncols or len(labels), len(labels))
    nrows = -(-len(labels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 1.8, 2.6 * nrows + 0.9), sharex=True,
                             sharey=True, squeeze=False)
    for ax, label in zip(axes.flat, labels, strict=False):  # spare axes (a short last row) are hidden below
        if label in histories:
            _draw_curves(ax, histories[label], "accuracy", (phase_starts or {}).get(label, ()))
        else:
            ax.text(0.5, 0.5, "no history", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(label, fontsize=9)
        ax.set_ylim(0, 1.02)
    for ax in axes.flat[len(labels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("Epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("Accuracy")
    _figure_legend(fig, axes)
    fig.suptitle(titled(title, note))
    _save(fig, path)


def plot_variant_curves(history: pd.DataFrame, path: str | os.PathLike, title: str,
                        phase_starts: Sequence[int] = (), note: str = "") -> None:
    """One variant's accuracy (left) and loss (right) per epoch, best epoch and phase switches marked."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), squeeze=False)
    for ax, metric in zip(axes[0], ("accuracy", "loss"), strict=True):
        _draw_curves(ax, history, metric, phase_starts)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(metric.capitalize())
    axes[0, 0].set_ylim(0, 1.02)
    _figure_legend(fig, axes)
    fig.suptitle(titled(title, note))
    _save(fig, path)


def _figure_legend(fig, axes) -> None:
    """One legend right of the panels, each label once (the first panel that draws it)."""
    entries = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(entries.values(), entries.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)


def plot_factor_effects(finetune_df: pd.DataFrame, path: str | os.PathLike,
                        orders: Mapping[str, Sequence[str]] | None = None, note: str = "") -> None:
    """One panel per factor (architecture, strategy, augmentation): every variant's evaluation
    accuracy as a point, the mean per level as a bar-marker joined by a line; the panel title gives
    the spread of the level means (max - min, percentage points)."""
    df = _finetune_frame(finetune_df)
    orders = dict(orders or {})
    fig, axes = plt.subplots(1, len(FACTORS), figsize=(4.2 * len(FACTORS), 4.2), sharey=True)
    rng = np.random.default_rng(0)  # fixed jitter: the same figure every run
    for ax, factor in zip(axes, FACTORS, strict=True):
        levels = _levels(df[factor], orders.get(factor))
        means = []
        for x, level in enumerate(levels):
            values = df.loc[df[factor] == level, "accuracy"].to_numpy(dtype=float)
            jitter = rng.uniform(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(len(values))
            ax.scatter(x + jitter, values, color="tab:blue", alpha=0.6, s=22, zorder=2)
            means.append(np.nanmean(values) if np.isfinite(values).any() else np.nan)
        ax.plot(range(len(levels)), means, color="tab:red", marker="_", markersize=28, mew=2.5,
                linestyle="-", linewidth=1, zorder=3, label="mean")
        for x, m in enumerate(means):
            if np.isfinite(m):
                ax.annotate(f"{m:.3f}", (x, m), xytext=(16, 0), textcoords="offset points",
                            va="center", fontsize=8, color="tab:red")
        finite = [m for m in means if np.isfinite(m)]
        spread = (max(finite) - min(finite)) * 100 if len(finite) > 1 else 0.0
        ax.set_title(f"{factor} (spread of means {spread:.1f} pp)", fontsize=10)
        ax.set_xticks(range(len(levels)), levels, rotation=20, ha="right")
        ax.set_xlim(-0.6, len(levels) - 0.4)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("Evaluation accuracy")
    axes[0].legend(fontsize=8)
    fig.suptitle(titled("Effect of each fine-tuning factor on evaluation accuracy", note))
    _save(fig, path)


def plot_leaderboard(leaderboard_df: pd.DataFrame, path: str | os.PathLike, chance: float | None = None,
                     note: str = "", interval: Sequence[str] | None = None) -> None:
    """Horizontal bars of every model's evaluation accuracy from 0 to 1 (best on top, colour = family),
    with error bars from the leaderboard's `interval` columns (low, high) where given, the study's reported
    accuracy as a black diamond where the leaderboard has one, the chance level as a dotted line; the legend sits
    right of the axes so that it hides no bar or diamond."""
    df = leaderboard_df.reset_index(drop=True)
    labels = [f"{f}: {m}" for f, m in zip(df["Family"], df["Model"], strict=True)]
    accuracy = pd.to_numeric(df["Accuracy"], errors="coerce").to_numpy(dtype=float)
    study = (pd.to_numeric(df["Study Accuracy"], errors="coerce").to_numpy(dtype=float)
             if "Study Accuracy" in df else np.full(len(df), np.nan))
    families = list(dict.fromkeys(df["Family"]))
    colours = plt.get_cmap("tab10")
    y = np.arange(len(df))[::-1]  # first row (best) on top
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.3 * len(df) + 1.2)))
    bounds = [df[column] for column in interval] if interval else [accuracy, accuracy]
    ax.barh(y, np.nan_to_num(accuracy), color=[colours(families.index(f) % 10) for f in df["Family"]],
            xerr=_error_lengths(accuracy, *bounds), error_kw=_ERROR_BARS)
    has_study = np.isfinite(study)
    if has_study.any():
        ax.scatter(study[has_study], y[has_study], marker="D", color="black", s=25, zorder=3)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Evaluation accuracy")
    ax.set_title(titled("Leaderboard (evaluation split)", note))
    handles = [Patch(color=colours(i % 10), label=f) for i, f in enumerate(families)]
    if has_study.any():
        handles.append(plt.Line2D([], [], marker="D", color="black", linestyle="", label="study's accuracy"))
    handles += _chance_line(ax.axvline, chance)
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def plot_usage(per_rule: pd.DataFrame, path: str | os.PathLike, note: str = "") -> None:
    """What each rule's jobs cost (`aggregate.usage.usage_per_rule`, without its total row): wall-hours split into
    the hours that held GPUs and the rest, and the largest peak memory of a job."""
    df = per_rule[per_rule["rule"] != "total"].iloc[::-1]
    y = np.arange(len(df))
    gpu = df["gpu_hours"].to_numpy(dtype=float)
    held_gpu = np.where(df["gpu_hours"] > 0, df["wall_hours"], 0.0)
    fig, (hours, memory) = plt.subplots(1, 2, figsize=(10, max(2.5, 0.35 * len(df) + 1.2)), sharey=True)
    hours.barh(y, df["wall_hours"] - held_gpu, color="tab:blue", label="jobs without GPU: wall-hours")
    hours.barh(y, held_gpu, left=df["wall_hours"] - held_gpu, color="tab:orange", label="jobs with GPUs: wall-hours")
    hours.scatter(gpu, y, marker="|", color="black", s=120, zorder=3, label="GPU-hours")
    hours.set_yticks(y, [f"{rule} ({jobs})" for rule, jobs in zip(df["rule"], df["jobs"], strict=True)], fontsize=8)
    hours.set_xlabel("hours (all jobs of the rule)")
    hours.legend(fontsize=8, loc="lower right")
    memory.barh(y, df["max_rss_mb"] / 1024, color="tab:gray")
    memory.set_xlabel("largest peak memory of a job (GiB)")
    for ax in (hours, memory):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(titled("What the study cost, per rule (jobs)", note))
    _save(fig, path)
