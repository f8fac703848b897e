"""docs/benchmarks.md from the CSVs of a bench run (never by hand), followed by bench/findings.md: what a person
concluded from that run (targets missed and why, decisions), kept apart so that the figures are never edited:

    PYTHONPATH=src python -m bench.docs [results/bench] [docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from bench.common import REPO

FINDINGS = REPO / "bench" / "findings.md"

SECTION_TEXT = {
    "pipeline": ("1. Input pipeline with the study's augmentation",
                 "Images/s of the study's `ImageDataGenerator.flow` (legacy `tf_keras`: rotation 10°, shifts 0.1, "
                 "horizontal flip, nearest fill: one combined transform per image) and of this workflow's `tf.data` "
                 "pipeline with the `standard` Keras layers (`training.make_dataset`), as configured and without op "
                 "determinism (under it tf.data runs the augmentation on one core), and each layer alone (each is a "
                 "pass of its own over the batch); one pass after a warm-up, no model."),
    "augmentation": ("2. Augmentation cost",
                     "Training images/s (last block unfrozen) with each augmentation policy of the config vs `none`. "
                     "`pipeline_alone_images_per_s` is the augmentation pipeline without a model; `predicted_cost` "
                     "is the cost it implies when it runs on the same cores as training, one after the other."),
    "training": ("3. Training and feature extraction",
                 "Training images/s per architecture and unfrozen depth (the strategies using that depth, no "
                 "augmentation) and feature extraction with the frozen base. The first epoch (graph tracing) is not "
                 "counted."),
    "switches": ("3b. Determinism, XLA and mixed precision on vs off",
                 "Training images/s (last block, no augmentation) with each switch off and on. XLA is measured "
                 "without op determinism: with `training.deterministic: true` (the default) Keras compiles without "
                 "XLA whatever `jit_compile` says. Mixed precision is measured only with a GPU."),
    "classical": ("4. Classical models",
                  "Fit seconds of each classical model of the config on synthetic features of the study's size, "
                  "and XGBoost as configured vs `hist` with `max_bin` and early stopping on the selection split "
                  "(`xgboost_fast`), also on a finished run's real features when `--demo` was given. Accuracies on "
                  "synthetic features say nothing about land cover."),
    "overhead": ("5. Per-job overhead",
                 "One demo fine-tuning job in a fresh Python process, stage by stage: what a Snakemake job pays "
                 "before its first training step and after its last."),
    "demo": ("5b. The demo's time per step",
             "A finished demo's jobs (their `benchmarks/` files), training epochs apart from the first epoch's "
             "tracing and from the rest of each training job (start, data, model build, evaluation, outputs); "
             "shares of all jobs' seconds summed (two jobs run at once on two cores)."),
    "dag": ("6. Scale of the DAG", "Seconds of `snakemake -n` (process start to the plan) on synthetic data, against a "
            "bare Snakefile of the same rules, job counts and inputs with trivial `shell:` rules (bench/dag.py)."),
    "study": ("7. Full-size variants and the projected study",
              "One variant per architecture trained by the workflow's `train_variant` (callbacks, selection "
              "evaluation, resume state) at the given data size, and the grid's projected hours."),
    "predict": ("8. Land-cover maps: time and memory against scene size",
                "Synthetic scenes of increasing size mapped by `predict_scene` (windows of 64 pixels resized inside "
                "the model to the architecture's `image_size`, every `stride` pixels, blended), each in a fresh "
                "process: seconds of the mapping (the model loaded and traced before), seconds per km² at 10 m, "
                "and the process's peak resident memory."),
}


def figure(value) -> str:
    """Numbers as a reader wants them: thousands separated, two decimals under 100, three digits under 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if math.isnan(value):
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1 or value == 0:
        return f"{value:.2f}".rstrip("0").rstrip(".") if float(value).is_integer() else f"{value:.2f}"
    return f"{value:.3g}"


def percent(value) -> str:
    return f"{value:.0%}" if isinstance(value, (int, float)) and not math.isnan(value) else figure(value)


def markdown_table(frame: pd.DataFrame) -> str:
    """Figures formatted for reading; shares and costs (fractions) as percentages."""
    text = frame.astype(object).where(frame.notna(), None)
    for column in text:
        text[column] = text[column].map(percent if "share" in column or "cost" in column else figure)
    return text.to_markdown(index=False, disable_numparse=True)


def summary_table(summary: pd.DataFrame) -> str:
    """The comparisons, each note as a numbered line below the table (they are sentences, too long for a cell)."""
    table = summary.drop(columns=["section", "note"], errors="ignore").copy()
    numbers = {}  # one number per distinct note: rows saying the same thing share it
    for index, note in enumerate(summary["note"]):
        if note:
            number = numbers.setdefault(note, len(numbers) + 1)
            table.loc[index, "comparison"] = f"{table.loc[index, 'comparison']} ({number})"
    notes = [f"{number}. {note}" for note, number in numbers.items()]
    return markdown_table(table) + ("\n\nNotes:\n\n" + "\n".join(notes) if notes else "")


def slowest_demo_step(demo: pd.DataFrame) -> str:
    """The sentence naming a finished demo's slowest step that does no training, with its share."""
    steps = demo[~demo["training"].astype(str).isin(["True", "true"])].sort_values("seconds", ascending=False)
    row = steps.iloc[0]
    return (f"**Slowest non-training step of the demo ({row['demo']}):** {row['step']}, {figure(row['seconds'])} s "
            f"in {int(row['jobs'])} jobs, {row['share']:.0%} of all its jobs' seconds.")


def slowest_job_stage(overhead: pd.DataFrame) -> str:
    """The sentence naming the slowest stage besides training of the timed demo job, with its share."""
    job = overhead[~overhead["stage"].str.startswith("training")].sort_values("seconds", ascending=False).iloc[0]
    return (f"**Slowest stage besides training of a demo job ({job['variant']}):** {job['stage']}, "
            f"{figure(job['seconds'])} s, {job['share']:.0%} of the job.")


def targets_text(summary: pd.DataFrame) -> str:
    with_target = summary[summary["target"].astype(str) != ""]
    missed = with_target[with_target["target_met"] != "yes"]
    lines = [f"Targets met: {int((with_target['target_met'] == 'yes').sum())} of {len(with_target)}."]
    lines += [f"- not met: {row['comparison']} ({row['target']}): "
              + ("see its note above" if row["note"] else "not measured") for row in missed.to_dict("records")]
    return "\n".join(lines)


def shown(path: Path) -> str:
    """A path as the reader of the page knows it: relative to the repository when inside it."""
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def render(out: Path, findings: Path | None = FINDINGS) -> str:
    """The whole page from the CSVs under `out`, then `findings` (a person's conclusions on a run of the default
    sizes) when that file exists and the run is of the default sizes."""
    read = lambda name: pd.read_csv(out / f"{name}.csv", keep_default_na=False, na_values=[""])  # noqa: E731
    machine = read("machine")
    summary = read("summary")
    summary = summary.astype(object).where(summary.notna(), "")
    facts = dict(zip(machine["fact"], machine["value"], strict=True))
    parts = [
        "# Benchmarks",
        f"<!-- Written by `make bench` (bench.docs) from {shown(out)}/*.csv: do not edit. -->",
        f"Measured on {facts.get('CPU')} ({facts.get('CPU cores')} cores), GPU: {facts.get('GPU')}, on "
        f"{facts.get('date (UTC)')} UTC, size preset `{facts.get('size preset')}`. Ratios are candidate over baseline, "
        "so above 1 the candidate is better (for seconds: baseline over candidate).",
        *([f"**Reduced sizes (preset `{facts.get('size preset')}`): these figures show that the benchmark runs, "
           "not what the workflow does; `make bench` measures at the default sizes.**"]
          if facts.get("size preset") == "tiny" else []),
        "## Machine", markdown_table(machine),
        "## Summary", summary_table(summary), targets_text(summary),
    ]
    for section, (title, text) in SECTION_TEXT.items():
        if not (out / f"{section}.csv").is_file():
            continue
        frame = read(section)
        parts += [f"## {title}", text, markdown_table(frame)]
        if section == "overhead":
            parts.append(slowest_job_stage(frame))
        if section == "demo":
            parts.append(slowest_demo_step(frame))
    if findings is not None and findings.is_file() and facts.get("size preset") == "default":
        parts.append(findings.read_text().strip())
    return "\n\n".join(parts) + "\n"


def write_docs(out: str | Path, docs: str | Path) -> None:
    Path(docs).parent.mkdir(parents=True, exist_ok=True)
    Path(docs).write_text(render(Path(out)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default=str(REPO / "results" / "bench"))
    parser.add_argument("docs", nargs="?", default=str(REPO / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    write_docs(args.out, args.docs)


if __name__ == "__main__":
    main()
