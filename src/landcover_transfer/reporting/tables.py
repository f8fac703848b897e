"""The study's tables from the result folders' `metrics.json` files.

`collect_metrics` reads the files into one raw frame per model family (keys as in metrics.json);
the `*_table` functions turn such a frame into a presentation table with the study's column names;
`write_table` writes a table as CSV and Markdown. Accuracies stay fractions (0..1) throughout, so
`study_reference` numbers must be fractions too. `collect_results` adds each model's per-image correctness
(from its saved evaluation probabilities) and the Wilson interval of its accuracy; every table then shows the
interval beside the accuracy. `average_over_seeds` turns the trainings of a variant (one per seed) into one row:
mean, standard deviation and number of seeds, and the bootstrap interval of the seed mean.
"""

from __future__ import annotations

import html
import logging
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from landcover_transfer.evaluation.accuracy_stats import bootstrap_interval, correct_answers, wilson_interval
from landcover_transfer.reporting.pages import html_page
from landcover_transfer.workflow.atomic_files import atomic_path, read_json
from landcover_transfer.workflow.errors import DataError

log = logging.getLogger(__name__)

METRIC_COLUMNS = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Recall", "f1": "F1 Score"}

FINETUNE_COLUMNS = {
    "architecture": "Architecture",
    "strategy": "Strategy",
    "augmentation": "Augmentation",
    "train_accuracy": "Training Accuracy",
    "val_accuracy": "Validation Accuracy",
    "best_epoch": "Best Epoch",
    "final_train_accuracy": "Final Training Accuracy",
    "final_val_accuracy": "Final Validation Accuracy",
    "accuracy": "Evaluation Accuracy",
    "accuracy_std": "Evaluation Accuracy Std",
    "seeds": "Seeds",
    "epochs_run": "Epochs Run",
    "wall_time_s": "Wall Time (s)",
    "trainable_params": "Trainable Params",
}
_INTEGER_COLUMNS = ("Best Epoch", "Epochs Run", "Trainable Params", "Seeds")
VARIANT_KEYS = ["architecture", "strategy", "augmentation"]
# the columns of repeats, shown only when some variant has more than one seed
_REPEAT_KEYS = ("accuracy_std", "seeds")
# Under the honest protocol the study's "validation" accuracies are measured on the selection split.
_SELECTION_HEADERS = {"Validation Accuracy": "Validation Accuracy (selection split)",
                      "Final Validation Accuracy": "Final Validation Accuracy (selection split)"}
MEMBER_SEPARATOR = ", "

LEADERBOARD_COLUMNS = ["Rank", "Family", "Model", "Accuracy", "Precision", "Recall", "F1 Score",
                       "Study Accuracy"]
# Raw-frame columns of `collect_results`: the accuracy's interval bounds.
INTERVAL_KEYS = ("accuracy_low", "accuracy_high")
# A job writes metrics.json and proba_evaluation.npy together, so both count the same right answers.
_ACCURACY_TOLERANCE = 1e-9


def collect_metrics(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per metrics.json (its top-level keys as columns) plus `path`, in the given order."""
    rows = [{**read_json(p), "path": str(p)} for p in paths]
    if not rows:
        return pd.DataFrame(columns=["path"])
    return pd.DataFrame(rows)


def interval_headers(level: float, repeated: bool = False) -> dict[str, str]:
    """Table headers of the interval bounds at confidence `level`, naming the method (`repeated`: some rows are
    seed means, whose interval is the bootstrap's)."""
    percent, method = f"{level * 100:g}%", "Wilson; seed means: bootstrap" if repeated else "Wilson"
    return {"accuracy_low": f"{percent} CI Low ({method})", "accuracy_high": f"{percent} CI High ({method})"}


def repeated(df: pd.DataFrame | None) -> bool:
    """Whether some row of an `average_over_seeds` frame is the mean of several seeds."""
    return df is not None and "seeds" in df and bool((pd.to_numeric(df["seeds"]) > 1).any())


def correctness_by_folder(proba_paths: Sequence[str | os.PathLike], y_true: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image correctness of each result folder's saved evaluation probabilities, keyed by the folder."""
    return {str(Path(path).parent): correct_answers(np.load(path), y_true) for path in proba_paths}


def collect_results(metrics_paths: Sequence[str | os.PathLike], correct: Mapping[str, np.ndarray],
                    level: float) -> pd.DataFrame:
    """`collect_metrics` plus `correct` (each folder's per-image correctness, from `correctness_by_folder`) and
    the Wilson interval of the accuracy at confidence `level` (`INTERVAL_KEYS`).

    A folder whose saved (float32) probabilities give another accuracy than its metrics.json (a near tie that
    the rounding turned) is logged; the interval is that of the saved probabilities.
    """
    df = collect_metrics(metrics_paths)
    folders = [str(Path(path).parent) for path in df["path"]]
    missing = [folder for folder in folders if folder not in correct]
    if missing:
        raise DataError(f"no proba_evaluation.npy among the inputs for {', '.join(missing)}")
    df["correct"] = [correct[folder] for folder in folders]
    for folder, recorded, answers in zip(folders, df["accuracy"], df["correct"], strict=True):
        if abs(float(recorded) - answers.mean()) > _ACCURACY_TOLERANCE:
            log.warning("%s: metrics.json says accuracy %.6f, its proba_evaluation.npy gives %.6f", folder,
                        recorded, answers.mean())
    bounds = [wilson_interval(answers, level) for answers in df["correct"]]
    df["accuracy_low"], df["accuracy_high"] = ([bound[i] for bound in bounds] for i in (0, 1))
    return df


def average_over_seeds(runs: pd.DataFrame, level: float, resamples: int, seed: int) -> pd.DataFrame:
    """One row per fine-tuning variant from the `collect_results` frame of its trainings (one per seed, the first
    seed first).

    Numeric metrics are the mean over seeds; `accuracy_std` is their sample standard deviation (NaN for one seed),
    `seeds` their number, `correct` the fraction of seeds right on each image, `path` the first seed's metrics.json.
    The interval of a mean of several seeds is the percentile bootstrap over evaluation images (`seed`ed): it covers
    the choice of images, the standard deviation shows the spread over seeds. A single seed keeps its Wilson interval.
    """
    rows = []
    for _, group in runs.groupby(VARIANT_KEYS, sort=False):
        row = group.iloc[0].drop(labels="seed", errors="ignore").copy()
        row["seeds"], row["accuracy_std"] = len(group), group["accuracy"].std(ddof=1) if len(group) > 1 else np.nan
        if len(group) > 1:
            for column in group.drop(columns=["seed", *INTERVAL_KEYS], errors="ignore").select_dtypes("number"):
                row[column] = group[column].mean()
            row["correct"] = np.mean(np.stack(group["correct"].to_list()).astype(float), axis=0)
            row["accuracy_low"], row["accuracy_high"] = bootstrap_interval(row["correct"], level, resamples, seed)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*runs.columns.drop("seed", errors="ignore"), *_REPEAT_KEYS]
                        ).reset_index(drop=True)


def _with_intervals(table: pd.DataFrame, df: pd.DataFrame, after: str, level: float | None,
                    seed_means: bool = False) -> pd.DataFrame:
    """`table` with the interval bounds of `df` (a `collect_results` frame) right after column `after`;
    unchanged when `df` has none. `seed_means`: the table has seed means (names both methods)."""
    if INTERVAL_KEYS[0] not in df:
        return table
    if level is None:
        raise ValueError("a table with accuracy intervals needs their confidence level")
    position = table.columns.get_loc(after) + 1
    for offset, (key, title) in enumerate(interval_headers(level, seed_means).items()):
        table.insert(position + offset, title, pd.to_numeric(df[key], errors="coerce").to_numpy())
    return table


def _column(df: pd.DataFrame, key: str, fallback: str | None = None) -> pd.Series:
    """df[key], else df[fallback], else a NaN column."""
    if key in df:
        return df[key]
    if fallback is not None and fallback in df:
        return df[fallback]
    return pd.Series(np.nan, index=df.index, dtype="float64")


def _order_key(order: Sequence[str] | None):
    """Sort key: position in `order`; values not listed come after, alphabetically."""
    position = {str(v): i for i, v in enumerate(order or [])}
    return lambda s: s.astype(str).map(lambda v: (position.get(v, len(position)), v))


def _sort(df: pd.DataFrame, keys: list[tuple[str, Sequence[str] | None]]) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    sort_frame = pd.DataFrame({col: _order_key(order)(df[col]) for col, order in keys})
    index = sorted(df.index, key=lambda i: tuple(sort_frame.at[i, col] for col, _ in keys))
    return df.loc[index].reset_index(drop=True)


def _integers(table: pd.DataFrame, columns) -> pd.DataFrame:
    for col in columns:
        if col in table:
            table[col] = pd.to_numeric(table[col], errors="coerce").round().astype("Int64")
    return table


def classical_table(df: pd.DataFrame, order: Sequence[str] | None = None, level: float | None = None
                    ) -> pd.DataFrame:
    """The study's Table 4: Model, Accuracy (and its interval at `level` where `df` has one), Precision, Recall,
    F1 Score (rows in `order` if given), Fit Time (s) where the results record it; with several seeds, the
    accuracy of each model with randomness refitted per seed: mean, standard deviation and number of seeds."""
    table = pd.DataFrame({"Model": _column(df, "model", "name").astype(str)})
    for key, title in METRIC_COLUMNS.items():
        table[title] = pd.to_numeric(_column(df, key), errors="coerce")
    if "fit_time_s" in df:
        table["Fit Time (s)"] = pd.to_numeric(df["fit_time_s"], errors="coerce")
    table = _with_intervals(table, df, "Accuracy", level)
    if "seed_accuracies" in df:
        table = table.join(_over_seeds(df["seed_accuracies"]))
    return _sort(table, [("Model", order)]) if order is not None else table.reset_index(drop=True)


def _over_seeds(seed_accuracies: pd.Series) -> pd.DataFrame:
    """Mean, sample standard deviation and number of the accuracies of a classical model refitted with each seed
    (`seed_accuracies` of its metrics.json; blank for a model without randomness)."""
    values = seed_accuracies.map(lambda d: list(d.values()) if isinstance(d, dict) else [])
    return pd.DataFrame({
        "Accuracy over Seeds (mean)": values.map(lambda v: float(np.mean(v)) if v else np.nan),
        "Accuracy over Seeds (std)": values.map(lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else np.nan),
        "Seeds": values.map(lambda v: len(v) or np.nan),
    }, index=seed_accuracies.index).pipe(_integers, ["Seeds"])


def finetune_headers(protocol: str | None = None) -> dict[str, str]:
    """Table 5's header per metrics.json key; under the `honest` protocol the validation columns say
    that they are the selection split."""
    if protocol != "honest":
        return dict(FINETUNE_COLUMNS)
    return {key: _SELECTION_HEADERS.get(title, title) for key, title in FINETUNE_COLUMNS.items()}


def finetune_table(df: pd.DataFrame, architecture_order: Sequence[str] | None = None,
                   strategy_order: Sequence[str] | None = None,
                   augmentation_order: Sequence[str] | None = None, protocol: str | None = None,
                   level: float | None = None) -> pd.DataFrame:
    """The study's Table 5, one row per variant, plus evaluation accuracy (and its interval at `level` where `df`
    has one), epochs, time and size; `df` from `average_over_seeds` with several seeds: means, and the accuracy's
    standard deviation and number of seeds.

    Rows are sorted by architecture, strategy, augmentation, each in the given config order (levels
    not listed come after, alphabetically). Missing metrics show as blank. Headers: `finetune_headers`.
    """
    table = pd.DataFrame(index=df.index)
    headers = {key: title for key, title in finetune_headers(protocol).items()
               if key not in _REPEAT_KEYS or repeated(df)}
    for key, title in headers.items():
        col = _column(df, key)
        table[title] = col.astype(str) if key in VARIANT_KEYS else col
    table = _with_intervals(_integers(table, _INTEGER_COLUMNS), df, "Evaluation Accuracy", level, repeated(df))
    return _sort(table, [("Architecture", architecture_order), ("Strategy", strategy_order),
                         ("Augmentation", augmentation_order)])


def _members_text(value) -> str:
    if isinstance(value, (list, tuple, np.ndarray)):
        return MEMBER_SEPARATOR.join(map(str, value))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _from_diversity(df: pd.DataFrame, key: str, summary=lambda value: value) -> pd.Series:
    """`summary` of each ensemble's `diversity[key]` (metrics.json); NaN where it has none."""
    if "diversity" not in df:
        return pd.Series(np.nan, index=df.index, dtype="float64")
    return df["diversity"].map(lambda d: summary(d[key]) if isinstance(d, dict) and d.get(key) is not None
                               else np.nan).astype(float)


def _mean_disagreement(df: pd.DataFrame) -> pd.Series:
    if "mean_disagreement" in df:
        return pd.to_numeric(df["mean_disagreement"], errors="coerce")
    return _from_diversity(df, "mean_disagreement")


def ensemble_table(df: pd.DataFrame, method_order: Sequence[str] | None = None, level: float | None = None
                   ) -> pd.DataFrame:
    """Method, Members, Accuracy (and its interval at `level` where `df` has one), Precision, Recall, F1 Score,
    Mean Disagreement (of the members), Best Member Accuracy (the highest of its members' own, on the same images:
    is the ensemble worth more than its best member?)."""
    table = pd.DataFrame({"Method": _column(df, "method", "name").astype(str),
                          "Members": _column(df, "members").map(_members_text)})
    for key, title in METRIC_COLUMNS.items():
        table[title] = pd.to_numeric(_column(df, key), errors="coerce")
    table["Mean Disagreement"] = _mean_disagreement(df)
    table["Best Member Accuracy"] = _from_diversity(df, "member_accuracy", lambda accuracies: max(accuracies.values()))
    table = _with_intervals(table, df, "Accuracy", level)
    return _sort(table, [("Method", method_order)]) if method_order is not None else table.reset_index(drop=True)


def row_ids(df: pd.DataFrame, family: str) -> pd.Series:
    """Leaderboard ids: "classical/{model}", "finetune/{arch}/{strategy}/{aug}", "ensemble/{method}"; a frame of
    single trainings (with a `seed` column) "finetune/{arch}/{strategy}/{aug}/seed{n}"."""
    if df is None or df.empty:
        return pd.Series([], dtype=str)
    if family == "finetune":
        parts = [_column(df, k).astype(str) for k in VARIANT_KEYS]
        model = parts[0] + "/" + parts[1] + "/" + parts[2]
        if "seed" in df:
            model = model + "/seed" + df["seed"].astype(int).astype(str)
    elif family == "classical":
        model = _column(df, "model", "name").astype(str)
    elif family == "ensemble":
        model = _column(df, "method", "name").astype(str)
    else:
        raise ValueError(f"unknown family {family!r}")
    return family + "/" + model


def leaderboard(classical_df: pd.DataFrame | None, finetune_df: pd.DataFrame | None,
                ensemble_df: pd.DataFrame | None, study_reference: Mapping[str, float] | None = None,
                level: float | None = None) -> pd.DataFrame:
    """Every model on the evaluation split, best first.

    Inputs are raw `collect_metrics` (or `collect_results`) frames (any may be None or empty). Columns: Rank
    (1 = best; equal accuracies share the better rank), Family, Model (id without the family), Accuracy (and its
    interval at `level` where the frames have one), Precision, Recall, F1 Score, Study Accuracy
    (`study_reference[row id]`, NaN where the study has no such row). Ties in accuracy are listed by family, then
    model. Reference ids matching no row are logged. With several seeds per variant (`average_over_seeds`), a
    fine-tuned row is the seed mean, followed by Accuracy Std and Seeds.
    """
    study_reference = dict(study_reference or {})
    seed_means = repeated(finetune_df)
    parts = []
    for family, df in (("classical", classical_df), ("finetune", finetune_df), ("ensemble", ensemble_df)):
        if df is None or df.empty:
            continue
        ids = row_ids(df, family)
        part = pd.DataFrame({"id": ids.values, "Family": family,
                             "Model": ids.str.slice(len(family) + 1).values})
        for key, title in METRIC_COLUMNS.items():
            part[title] = pd.to_numeric(_column(df, key), errors="coerce").values
        if seed_means:
            part["Accuracy Std"] = pd.to_numeric(_column(df, "accuracy_std"), errors="coerce").values
            part["Seeds"] = pd.to_numeric(_column(df, "seeds"), errors="coerce").fillna(1).astype(int).values
        parts.append(_with_intervals(part, df, "Accuracy", level, seed_means))
    if not parts:
        return pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    board = pd.concat(parts, ignore_index=True)
    board["Study Accuracy"] = board["id"].map(lambda i: study_reference.get(i, np.nan)).astype(float)
    unmatched = sorted(set(study_reference) - set(board["id"]))
    if unmatched:
        log.warning("study reference ids without a result: %s", ", ".join(unmatched))
    board = board.sort_values(["Accuracy", "Family", "Model"], ascending=[False, True, True],
                              na_position="last", kind="mergesort").reset_index(drop=True)
    board.insert(0, "Rank", board["Accuracy"].rank(method="min", ascending=False).astype("Int64"))
    return board.drop(columns="id")


def _column_format(column: str, values: pd.Series, floatfmt: str) -> str | None:
    """Format of a float column: seconds to 0.1 s, p-values to 3 significant digits (a fixed number of decimals
    would print a small one as 0), everything else `floatfmt`; None for other columns."""
    if not pd.api.types.is_float_dtype(values):
        return None
    if column.startswith("p-value"):
        return ".3g"
    return ".1f" if column.endswith("(s)") else floatfmt


def _formatted(df: pd.DataFrame, floatfmt: str) -> pd.DataFrame:
    """Every cell as text, formatted per column (see `_column_format`); missing values blank."""
    columns = {}
    for col in df.columns:
        fmt = _column_format(col, df[col], floatfmt)
        columns[col] = df[col].map(lambda v, fmt=fmt: "" if _missing(v) else format(v, fmt) if fmt else str(v))
    return pd.DataFrame(columns, index=df.index)


def _missing(value) -> bool:
    return value is None or (not isinstance(value, (list, tuple, dict, np.ndarray)) and pd.isna(value))


def _numeric_columns(table: pd.DataFrame) -> list[str]:
    """Columns of a formatted table whose filled cells are all numbers (right-aligned)."""
    def numeric(cells: pd.Series) -> bool:
        filled = cells[cells != ""]
        return len(filled) > 0 and pd.to_numeric(filled, errors="coerce").notna().all()
    return [col for col in table if numeric(table[col])]


def _html(table: pd.DataFrame, title: str, multiline: Sequence[str]) -> str:
    """An HTML page with `table` (already formatted as text): one line per item in `multiline` cells,
    numbers right-aligned."""
    cells = table.apply(lambda col: col.map(html.escape))
    for col in multiline:
        cells[col] = cells[col].str.replace(MEMBER_SEPARATOR, "<br>", regex=False)
    numeric = _numeric_columns(table)
    body = cells.style.set_uuid("table").hide(axis="index").set_td_classes(
        pd.DataFrame({col: "number" if col in numeric else "" for col in table}, index=table.index)).to_html()
    return html_page(title, body)


def write_table(df: pd.DataFrame, csv_path: str | os.PathLike, md_path: str | os.PathLike,
                html_path: str | os.PathLike | None = None, title: str = "", floatfmt: str = ".4f",
                multiline: Sequence[str] = ()) -> None:
    """Write `df` as CSV, as Markdown (under `title`) and optionally as an HTML page (the report shows
    it in the page). Floats as `floatfmt`, seconds to 0.1 s, missing values blank; cells of the
    `multiline` columns (lists joined by MEMBER_SEPARATOR) show one item per line in Markdown and HTML."""
    text = _formatted(df, floatfmt)
    with atomic_path(csv_path) as tmp:
        text.to_csv(tmp, index=False)
    markdown = text.copy()
    for col in multiline:
        markdown[col] = markdown[col].str.replace(MEMBER_SEPARATOR, "<br>", regex=False)
    align = ["right" if col in _numeric_columns(text) else "left" for col in text]
    lines = ([f"**{title}**", ""] if title else []) + [
        markdown.to_markdown(index=False, disable_numparse=True, colalign=align)]
    with atomic_path(md_path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    if html_path is not None:
        with atomic_path(html_path) as tmp:
            Path(tmp).write_text(_html(text, title, multiline))
