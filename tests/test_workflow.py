"""The Snakemake workflow: lint, job plans computed from the configs, clear errors, and one tiny end-to-end run.

Every Snakemake call runs in a temporary working directory (`-d`), never in the repository.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.utils import update_config, validate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from landcover_transfer.aggregate.comparisons import CLAIMS, VERSUS_BEST
from landcover_transfer.data.dataset import write_dataset
from landcover_transfer.data.splits import Splits
from landcover_transfer.data.synthetic import make_synthetic
from landcover_transfer.evaluation.accuracy_stats import wilson_interval
from landcover_transfer.reporting.tables import finetune_headers, interval_headers
from landcover_transfer.workflow.provenance import git_state, package_versions

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"
TINY_RUN_CONFIGS = (TINY_CONFIG, REPO / "tests" / "config" / "predict.yaml")  # conftest.py's tiny_run

CONFIG = REPO / "config" / "config.yaml"
DEMO = REPO / "config" / "demo.yaml"
TRACEBACK = "Traceback (most recent call last)"
VARIANT_FILES = ("model.keras", "history.csv", "metrics.json", "report.csv", "proba_selection.npy",
                 "proba_evaluation.npy", "curves.png", "confusion.png")
CLASSICAL_FILES = ("metrics.json", "report.csv", "confusion.png", "proba_selection.npy", "proba_evaluation.npy")
ENSEMBLE_FILES = ("metrics.json", "report.csv", "confusion.png", "proba_evaluation.npy")
TABLES = ("classical", "finetune", "ensemble", "leaderboard", "comparisons")
AGGREGATION = {"finetune_table", "ensemble", "ensemble_table", "leaderboard", "plots", "comparisons", "provenance",
               "effective_config", "usage", "all"}
# downstream of every variant too: its attacks, the ensemble surrogate's, and the robustness tables
ROBUSTNESS_JOBS = {"attack", "transfer_matrix", "robustness_table", "robustness_plots"}
ROBUSTNESS_TABLES = ("robustness", "transfer", "adversarial_training")
SYNTHETIC_SCENE = "results/predict/synthetic_scene/scene.tif"  # rule synthetic_scene's
MAP_FILES = ("classes.tif", "probabilities.tif", "areas.csv", "summary.json", "quicklook.png")
EXPORT_FILES = ("model.keras", "saved_model/saved_model.pb", "model.onnx", "model.tflite", "export.json",
                "model_card.md")
# downstream of the exported variant: its files and its card (which also reads the variant's attacks)
EXPORT_JOBS = {"export_model", "model_card"}


# --- helpers ------------------------------------------------------------------------------------


def config_for(*overlays) -> dict:
    """config/config.yaml with each overlay applied key by key (as --configfile does), defaults filled in."""
    config = yaml.safe_load(CONFIG.read_text())
    for overlay in overlays:
        update_config(config, yaml.safe_load(Path(overlay).read_text()))
    validate(config, str(REPO / "config" / "schema.yaml"))
    return config


def variants(config) -> list[str]:
    grid = config["finetune"]
    return [f"{a}/{s}/{g}" for a in grid["architectures"] for s in grid["strategies"] for g in grid["augmentations"]]


def seeds(config) -> list[int]:
    return config["finetune"].get("seeds") or [config["training"]["seed"]]


def runs(config, only_seeds=None) -> list[str]:
    """Every training's folder under results/finetune (variant and seed)."""
    return [f"{v}/seed{seed}" for v in variants(config) for seed in only_seeds or seeds(config)]


def first_runs(config) -> list[str]:
    """Each variant's first-seed training: what ensembles and attacks use."""
    return runs(config, seeds(config)[:1])


def expected_job_counts(config) -> dict[str, int]:
    """Jobs `snakemake -n` must plan for a config in an empty working directory, counted from the config."""
    grid = config["finetune"]
    uses_features = set(grid["architectures"]) | {config["features"]["architecture"]}
    stand_in = [a for a in uses_features
                if config["architectures"][a].get("weights", config["weights"]) is None
                and config["random_weights_policy"] == "pretrain"]
    counts = {
        "synthetic_dataset": int(config["data"]["source"] == "synthetic"),
        "eurosat_to_h5": int(config["data"]["source"] == "eurosat"),
        "make_splits": 1,
        "pretrain_base": len(stand_in),
        "extract_features": 1,
        "train_classical": len(config["classical"]["models"]),
        "classical_table": 1,
        "finetune": len(runs(config)),
        "finetune_table": 1,
        "ensemble": len(config["ensemble"]["methods"]),
        "ensemble_table": 1,
        "leaderboard": 1,
        "plots": 1,
        "comparisons": 1,
        "provenance": 1,
        "effective_config": 1,
        "usage": 1,
        # every variant and the ensemble surrogate: one job each runs all the attacks
        "attack": len(variants(config)) + 1,
        "transfer_matrix": 1,
        "robustness_table": 1,
        "robustness_plots": 1,
        "synthetic_scene": int(any(scene["path"] == SYNTHETIC_SCENE for scene in config["predict"]["scenes"].values())),
        "predict_scene": len(config["predict"]["scenes"]),
        "evaluate_scene": sum("labels" in scene for scene in config["predict"]["scenes"].values()),
        "predict_chips": len(config["predict"]["chips"]),
        "export_model": len(exported(config)),
        "model_card": len(exported(config)),
        "all": 1,
    }
    return {job: n for job, n in counts.items() if n}


def job_counts(output: str) -> dict[str, int]:
    """The "Job stats" table of Snakemake's output as {rule: count} (without the total)."""
    match = re.search(r"^Job stats:\n.*?\n-+ +-+\n(.*?)^total +(\d+)", output, re.S | re.M)
    assert match, f"no Job stats table in the output:\n{output[-3000:]}"
    counts = {}
    for line in match[1].splitlines():
        name, count = line.split()[:2]
        counts[name] = int(count)
    assert sum(counts.values()) == int(match[2])
    return counts


def planned_trainings(output: str) -> list[str]:
    """The trainings ("{arch}/{strategy}/{aug}/seed{n}") a run's job list plans (rule finetune's message:
    "Fine-tuning {arch}/{strategy}/{aug} (seed {n})")."""
    return [f"{variant}/seed{seed}"
            for variant, seed in re.findall(r"^Job \d+: Fine-tuning (\S+) \(seed (\d+)\)$", output, re.M)]


def make_study_file(workdir: Path) -> None:
    """A tiny but valid data/earth_data.h5, so the study config (data.source: file) can plan its jobs."""
    write_dataset(workdir / "data" / "earth_data.h5", make_synthetic(3, 2))


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)  # copy2: modification times are kept
    return target


def out(result) -> str:
    return result.stdout + result.stderr


# --- lint and dry runs (fast) -------------------------------------------------------------------


def test_lint_is_clean(tmp_path, run_snakemake):
    result = run_snakemake(tmp_path, "--lint", "--configfile", DEMO, timeout=300)
    output = out(result)
    assert result.returncode == 0, output
    assert "Congratulations, your workflow is in a good condition!" in output
    assert "Lints for" not in output


@pytest.mark.parametrize("name, overlays, needs_file", [
    ("study", [], True),
    ("demo", [DEMO], False),
    ("tiny", [TINY_CONFIG], False),
    ("tiny, three seeds", [TINY_CONFIG, REPO / "tests" / "config" / "three_seeds.yaml"], False),
])
def test_dry_run_plans_the_configured_jobs(name, overlays, needs_file, tmp_path, run_snakemake):
    config = config_for(*overlays)
    if needs_file:
        make_study_file(tmp_path)
    args = ["--configfile", *overlays] if overlays else []  # one option: a second --configfile replaces the first
    result = run_snakemake(tmp_path, "-n", *args, timeout=300)
    assert result.returncode == 0, out(result)
    assert job_counts(out(result)) == expected_job_counts(config)
    if name == "study":
        assert config["weights"] == "imagenet" and "pretrain_base" not in job_counts(out(result))
    if name == "demo":
        assert job_counts(out(result))["pretrain_base"] == len(config["finetune"]["architectures"])
        # the count the README quotes beside the demo's wall time
        quoted = re.search(r"`make demo` took .*? \((\d+) jobs;", " ".join((REPO / "README.md").read_text().split()))
        assert quoted and int(quoted[1]) == sum(job_counts(out(result)).values()), "README: the demo's job count"
    if name == "tiny, three seeds":
        assert job_counts(out(result))["finetune"] == 3 * len(variants(config))
        assert sorted(planned_trainings(out(result))) == sorted(runs(config))
    assert not (tmp_path / "results").exists(), "a dry run wrote results"


def test_missing_study_file_is_one_clear_error(tmp_path, run_snakemake):
    result = run_snakemake(tmp_path, "-n", timeout=300)
    output = out(result)
    assert result.returncode != 0
    assert "data/earth_data.h5" in output
    assert "eurosat" in output.lower() and "make demo" in output
    assert TRACEBACK not in output


@pytest.mark.parametrize("target, planned, not_planned", [
    ("all_classical", "train_classical", "finetune"),
    ("all_finetune", "finetune", "train_classical"),
])
def test_stage_targets_plan_only_their_stage(target, planned, not_planned, tmp_path, run_snakemake):
    config = config_for()
    make_study_file(tmp_path)
    result = run_snakemake(tmp_path, "-n", target, timeout=300)
    assert result.returncode == 0, out(result)
    counts = job_counts(out(result))
    assert counts[planned] == expected_job_counts(config)[planned]
    assert not_planned not in counts
    assert not {"ensemble", "leaderboard", "plots", "all"} & set(counts)


# --- the tiny end-to-end run --------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_config():
    return config_for(*TINY_RUN_CONFIGS)


def expected_outputs(config) -> list[str]:
    files = ["results/data/splits.npz", "results/features/features.npz"]
    files += [f"results/finetune/{r}/{name}" for r in runs(config) for name in VARIANT_FILES]
    files += [f"results/classical/{m}/{name}" for m in config["classical"]["models"] for name in CLASSICAL_FILES]
    files += [f"results/ensemble/{m}/{name}" for m in config["ensemble"]["methods"] for name in ENSEMBLE_FILES]
    files += [f"results/tables/{t}.{ext}" for t in TABLES for ext in ("csv", "md", "html")]
    files += [f"results/config/{name}.{ext}" for name, exts in (("effective_config", ("yaml", "html")),
                                                                ("provenance", ("csv", "md", "html"))) for ext in exts]
    files += [f"results/plots/{p}.png" for p in ("variant_accuracy", "factor_effects", "leaderboard", "usage")]
    files += [f"results/tables/{t}.{ext}" for t in ("usage", "usage_by_rule") for ext in ("csv", "md", "html")]
    files += [f"results/plots/curves/{a}.png" for a in config["finetune"]["architectures"]]
    files += [f"results/robustness/{target}/{attack}/{name}" for target in attack_targets(config)
              for attack in config["robustness"]["attacks"]
              for name in ("robust.json", "adversarial.npy", "examples.png")]
    files += [f"results/tables/{t}.{ext}" for t in ROBUSTNESS_TABLES for ext in ("csv", "md")]
    files += ["results/robustness/transfer.csv", "results/plots/transfer_matrix.png"]
    files += [f"results/plots/robustness/{a}.png" for a in config["finetune"]["architectures"]]
    files += [f"results/predict/{scene}/{name}" for scene in config["predict"]["scenes"] for name in MAP_FILES]
    files += [f"results/predict/{name}/{file}" for name, scene in config["predict"]["scenes"].items()
              if "labels" in scene for file in ("evaluation.json", "evaluation.csv", "confusion.csv")]
    files += [f"results/predict/chips/{name}/{file}" for name in config["predict"]["chips"]
              for file in ("predictions.csv", "summary.json")]
    files += [f"results/export/{variant}/{name}" for variant in exported(config) for name in EXPORT_FILES]
    return files


def exported(config) -> list[str]:
    model = config["export"]["model"]
    return [] if model is None else [model] if isinstance(model, str) else model


def attack_targets(config) -> list[str]:
    return [f"finetune/{v}" for v in variants(config)] + ["ensemble"]


@pytest.mark.slow
def test_tiny_run_writes_every_output(tiny_run, tiny_config):
    missing = [f for f in expected_outputs(tiny_config) if not (tiny_run / f).is_file()]
    empty = [f for f in expected_outputs(tiny_config)
             if (tiny_run / f).is_file() and (tiny_run / f).stat().st_size == 0]
    assert missing == [] and empty == []


@pytest.mark.slow
def test_tiny_run_every_job_has_a_log_and_nothing_is_left_to_do(tiny_run, tiny_config, run_snakemake):
    result = run_snakemake(tiny_run, "--summary", "--configfile", *TINY_RUN_CONFIGS, timeout=300)
    assert result.returncode == 0, out(result)
    summary = pd.read_csv(io.StringIO(result.stdout[result.stdout.index("output_file"):]), sep="\t")
    ran = set(expected_job_counts(tiny_config)) - {"all"}
    assert set(summary["rule"]) == ran
    assert summary["log-file(s)"].notna().all(), summary[summary["log-file(s)"].isna()]
    logs = {log for cell in summary["log-file(s)"] for log in cell.split(",")}
    assert all(log.strip().startswith("logs/") for log in logs)
    assert [log for log in logs if not (tiny_run / log.strip()).exists()] == []  # a file, or TensorBoard's folder
    assert set(summary["status"]) == {"ok"} and set(summary["plan"]) == {"no update"}

    dry = run_snakemake(tiny_run, "-n", "--configfile", *TINY_RUN_CONFIGS, timeout=300)
    assert dry.returncode == 0, out(dry)
    assert "Nothing to be done" in out(dry)


@pytest.mark.slow
def test_tiny_run_keeps_only_the_finished_state_and_no_temporary_files(tiny_run, tiny_config):
    """Each variant's .resume keeps what rebuilds its outputs without training (state, best weights,
    fingerprint): no epoch weights with optimizer state, no temporary files anywhere."""
    for variant in runs(tiny_config):
        folder = tiny_run / "results/finetune" / variant / ".resume"
        state = json.loads((folder / "state.json").read_text())
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            ["lock", "fingerprint.json", "state.json", state["roles"]["best"]]), variant
    leftovers = [p for p in (tiny_run / "results").rglob(".*")
                 if p.name not in (".snakemake_timestamp", ".resume")]
    assert leftovers == []


def _metrics(tiny_run, family, names) -> pd.DataFrame:
    rows = []
    for name in names:
        data = json.loads((tiny_run / f"results/{family}/{name}/metrics.json").read_text())
        rows.append({"id": name, **{k: v for k, v in data.items() if not isinstance(v, (list, dict))}})
    return pd.DataFrame(rows).set_index("id")


def _compare(table: pd.DataFrame, metrics: pd.DataFrame, columns: dict[str, str]) -> None:
    """Table columns equal the metrics.json values to the 4 decimals the tables print."""
    ours = table[list(columns)].astype(float)
    theirs = metrics.loc[table.index, list(columns.values())].astype(float).set_axis(list(columns), axis=1)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=0, atol=5.01e-5, check_names=False)


METRIC_COLUMNS = {"Accuracy": "accuracy", "Precision": "precision", "Recall": "recall", "F1 Score": "f1"}


@pytest.mark.slow
def test_tables_list_every_result_once_with_its_metrics(tiny_run, tiny_config):
    tables = {t: pd.read_csv(tiny_run / f"results/tables/{t}.csv") for t in TABLES}
    grid_ids, models = variants(tiny_config), list(tiny_config["classical"]["models"])
    # tiny.yaml has one seed: a variant's row is its one training's
    finetune_metrics = _metrics(tiny_run, "finetune", runs(tiny_config)).rename(index=lambda r: r.rsplit("/", 1)[0])
    methods = list(tiny_config["ensemble"]["methods"])

    finetune = tables["finetune"]
    finetune.index = finetune["Architecture"] + "/" + finetune["Strategy"] + "/" + finetune["Augmentation"]
    assert sorted(finetune.index) == sorted(grid_ids)  # each variant exactly once
    _compare(finetune, finetune_metrics,
             {"Evaluation Accuracy": "accuracy", "Training Accuracy": "train_accuracy",
              finetune_headers("honest")["val_accuracy"]: "val_accuracy", "Best Epoch": "best_epoch",
              "Epochs Run": "epochs_run",
              "Trainable Params": "trainable_params"})

    classical = tables["classical"].set_index("Model")
    assert sorted(classical.index) == sorted(models)
    _compare(classical, _metrics(tiny_run, "classical", models), METRIC_COLUMNS)

    ensemble = tables["ensemble"].set_index("Method")
    assert sorted(ensemble.index) == sorted(methods)
    _compare(ensemble, _metrics(tiny_run, "ensemble", methods), METRIC_COLUMNS)

    board = tables["leaderboard"]
    board.index = board["Family"] + "/" + board["Model"]
    expected = ([f"classical/{m}" for m in models] + [f"finetune/{v}" for v in grid_ids]
                + [f"ensemble/{m}" for m in methods])
    assert sorted(board.index) == sorted(expected)
    all_metrics = pd.concat([metrics.rename(index=lambda i, f=family: f"{f}/{i}")
                             for family, metrics in (("classical", _metrics(tiny_run, "classical", models)),
                                                     ("finetune", finetune_metrics),
                                                     ("ensemble", _metrics(tiny_run, "ensemble", methods)))])
    _compare(board, all_metrics, METRIC_COLUMNS)
    assert board["Accuracy"].is_monotonic_decreasing
    for table in TABLES:  # the Markdown twin has the same rows
        markdown = (tiny_run / f"results/tables/{table}.md").read_text()
        assert len([line for line in markdown.splitlines() if line.startswith("|")]) == len(tables[table]) + 2


@pytest.mark.slow
def test_metrics_accuracy_matches_the_saved_probabilities(tiny_run, tiny_config):
    splits = Splits.load(tiny_run / "results/data/splits.npz")
    n_classes = len(splits.class_names)
    folders = ([f"finetune/{r}" for r in runs(tiny_config)]
               + [f"classical/{m}" for m in tiny_config["classical"]["models"]]
               + [f"ensemble/{m}" for m in tiny_config["ensemble"]["methods"]])
    for folder in folders:
        path = tiny_run / "results" / folder
        proba = np.load(path / "proba_evaluation.npy")
        assert proba.shape == (len(splits.y_evaluation), n_classes), folder
        accuracy = float(np.mean(proba.argmax(axis=1) == splits.y_evaluation))
        recorded = json.loads((path / "metrics.json").read_text())["accuracy"]
        assert recorded == pytest.approx(accuracy, abs=1e-9), folder
        if (path / "proba_selection.npy").exists():
            assert np.load(path / "proba_selection.npy").shape == (len(splits.y_selection), n_classes), folder


@pytest.mark.slow
def test_tiny_run_intervals_and_comparisons_follow_the_saved_probabilities(tiny_run, tiny_config):
    y = Splits.load(tiny_run / "results/data/splits.npz").y_evaluation
    level = tiny_config["statistics"]["confidence_level"]
    low, high = interval_headers(level).values()
    board = pd.read_csv(tiny_run / "results/tables/leaderboard.csv")
    for _, row in board.iterrows():
        # tiny.yaml has one seed: a variant's row is its one training's
        folder = f"{row['Family']}/{row['Model']}" + (f"/seed{seeds(tiny_config)[0]}" if row["Family"] == "finetune"
                                                      else "")
        correct = np.load(tiny_run / f"results/{folder}/proba_evaluation.npy").argmax(1) == y
        assert (row[low], row[high]) == pytest.approx(wilson_interval(correct, level), abs=5.01e-5)
    table = pd.read_csv(tiny_run / "results/tables/comparisons.csv")
    versus, claims = (table[table["Group (Holm within)"] == group] for group in (VERSUS_BEST, CLAIMS))
    assert len(versus) == len(board) - 1
    assert set(versus["Model A"]) == {f"{board['Family'][0]}/{board['Model'][0]}"}
    grid, augmentations = tiny_config["finetune"], tiny_config["augmentations"]
    with_layers = [aug for aug in grid["augmentations"] if augmentations[aug]]
    without = [aug for aug in grid["augmentations"] if not augmentations[aug]]
    augmentation_rows = len(with_layers) * len(without) * len(grid["architectures"]) * len(grid["strategies"])
    # the tiny grid has no strategy that unfreezes two blocks in every phase: no depth claim
    assert len(claims) == augmentation_rows + len(tiny_config["ensemble"]["methods"]) + 1
    assert (table["p-value (Holm)"] >= table["p-value"] - 1e-12).all()
    assert set(table["Test"]) == {"exact McNemar"}  # single trainings: one right-or-wrong answer per image
    assert table["p-value (Holm)"].between(0, 1).all()


@pytest.mark.slow
def test_tiny_run_metrics_record_their_provenance(tiny_run, tiny_config):
    expected_config = {f"finetune/{a}/{s}/{g}/{seed}": {
        "strategy": tiny_config["strategies"][s], "augmentation": tiny_config["augmentations"][g],
        "training": {**tiny_config["training"], "seed": int(seed.removeprefix("seed"))}, "head": tiny_config["head"]}
        for a, s, g, seed in (r.split("/") for r in runs(tiny_config))}
    models = tiny_config["classical"]["models"]
    expected_config.update({f"classical/{m}": {"model": spec} for m, spec in models.items()})
    expected_config.update({f"ensemble/{m}": {"ensemble": tiny_config["ensemble"]}
                            for m in tiny_config["ensemble"]["methods"]})
    software, git = package_versions(), git_state()
    for result, entries in expected_config.items():
        record = json.loads((tiny_run / f"results/{result}/metrics.json").read_text())["provenance"]
        assert {key: record["config"][key] for key in entries} == entries, result
        assert record["software"] == software and record["git"] == git, result
        assert record["device"]["gpus"] == ([] if result.startswith("finetune/") else None), result
    table = pd.read_csv(tiny_run / "results/config/provenance.csv")
    assert sorted(table["Result"]) == sorted(expected_config)


@pytest.mark.slow
def test_tiny_run_tensorboard_log_has_every_epoch_of_each_variant_once(tiny_run, tiny_config):
    for variant in runs(tiny_config):
        epochs = pd.read_csv(tiny_run / f"results/finetune/{variant}/history.csv")["epoch"].tolist()
        log_dir = tiny_run / "logs/tensorboard" / variant
        for split, tag in (("train", "epoch_loss"), ("validation", "epoch_accuracy")):
            written = []
            for path in sorted((log_dir / split).glob("events.out.tfevents.*")):
                events = EventAccumulator(str(path), size_guidance={"tensors": 0})
                events.Reload()
                written += [e.step for e in events.Tensors(tag)] if tag in events.Tags()["tensors"] else []
            assert sorted(written) == epochs, (variant, split, tag)


@pytest.mark.slow
def test_robustness_results_agree_with_the_models_and_with_each_other(tiny_run, tiny_config):
    from landcover_transfer.robustness.evaluation import attack_subset

    settings = tiny_config["robustness"]
    splits = Splits.load(tiny_run / "results/data/splits.npz")
    subset = attack_subset(splits.y_evaluation, settings["subset_size"], settings["seed"])
    transfer = pd.read_csv(tiny_run / "results/robustness/transfer.csv", index_col="source")
    table = pd.read_csv(tiny_run / "results/tables/robustness.csv")
    board = pd.read_csv(tiny_run / "results/tables/leaderboard.csv").set_index(["Family", "Model"])
    eps = sorted(settings["eps"])
    at_transfer, at_headline = eps.index(settings["transfer_eps"]), eps.index(settings["headline_eps"])
    for variant, first_run in zip(variants(tiny_config), first_runs(tiny_config), strict=True):
        proba = np.load(tiny_run / f"results/finetune/{first_run}/proba_evaluation.npy")[subset]
        clean = float(np.mean(proba.argmax(axis=1) == splits.y_evaluation[subset]))
        results = {attack: json.loads((tiny_run / f"results/robustness/finetune/{variant}/{attack}/robust.json")
                                      .read_text()) for attack in settings["attacks"]}
        for result in results.values():
            assert result["eps"] == eps and result["n_images"] == len(subset)
            assert result["accuracy"][0] == pytest.approx(clean, abs=1e-9)  # eps 0: the finetune job's own numbers
            assert all(largest <= eps + 1e-4
                       for largest, eps in zip(result["max_perturbation"], result["eps"], strict=True))
        target = f"finetune/{variant}"
        assert transfer.loc["clean", target] == pytest.approx(clean, abs=5.01e-5)  # the CSV keeps 4 decimals
        white_box = results[settings["transfer_attack"]]["accuracy"][at_transfer]
        assert transfer.loc[target, target] == pytest.approx(white_box, abs=5.01e-5)  # the diagonal is white-box
        headline = min(r["accuracy"][at_headline] for r in results.values())
        assert board.loc[("finetune", variant), f"Robust Accuracy (eps {settings['headline_eps']:g}/255)"] == \
            pytest.approx(headline, abs=5.01e-5)
    # the transfer job's clean row (classical models refitted, extractor rebuilt) is each model's own result
    for folder in ([f"classical/{m}" for m in tiny_config["classical"]["models"]]
                   + [f"ensemble/{m}" for m in tiny_config["ensemble"]["methods"]]):
        proba = np.load(tiny_run / f"results/{folder}/proba_evaluation.npy")[subset]
        clean = float(np.mean(proba.argmax(axis=1) == splits.y_evaluation[subset]))
        assert transfer.loc["clean", folder] == pytest.approx(clean, abs=5.01e-5), folder
    expected_rows = ((len(variants(tiny_config)) + 1) * len(settings["attacks"])
                     + len(tiny_config["ensemble"]["methods"]) + len(tiny_config["classical"]["models"]))
    assert len(table) == expected_rows
    assert sorted(transfer.columns) == sorted([f"finetune/{v}" for v in variants(tiny_config)]
                                              + [f"classical/{m}" for m in tiny_config["classical"]["models"]]
                                              + [f"ensemble/{m}" for m in tiny_config["ensemble"]["methods"]])


@pytest.mark.slow
def test_forcerun_of_one_variant_plans_only_it_and_the_aggregation(tiny_run, tiny_config, run_snakemake):
    target = runs(tiny_config)[0]
    result = run_snakemake(tiny_run, "-n", "--forcerun", f"results/finetune/{target}/metrics.json",
                           "--configfile", *TINY_RUN_CONFIGS, timeout=300)
    assert result.returncode == 0, out(result)
    _assert_reruns_only(out(result), target, tiny_config)


def _assert_reruns_only(output: str, target: str, config) -> None:
    counts = job_counts(output)
    expected = {"finetune": 1, "finetune_table": 1, "ensemble": len(config["ensemble"]["methods"]),
                "ensemble_table": 1, "leaderboard": 1, "plots": 1, "comparisons": 1, "provenance": 1, "usage": 1,
                "all": 1,
                # the variant's attacks and the ensemble surrogate's
                "attack": 2, "transfer_matrix": 1, "robustness_table": 1,
                "robustness_plots": 1}
    assert counts == expected
    assert planned_trainings(output) == [target]


@pytest.mark.slow
def test_deleted_variant_is_retrained_alone(tiny_run, tiny_config, tmp_path, run_snakemake):
    work = copy_run(tiny_run, tmp_path / "work")
    target = runs(tiny_config)[0]
    assert target == "mobilenet_v2/last_block/none/seed42"  # tiny.yaml's first variant, its one seed
    metrics = work / f"results/finetune/{target}/metrics.json"
    recorded = metrics.read_bytes()
    shutil.rmtree(metrics.parent)  # the variant with its kept state: it must train again

    plan = run_snakemake(work, "-n", "--configfile", *TINY_RUN_CONFIGS, timeout=300)
    assert plan.returncode == 0, out(plan)
    _assert_reruns_only(out(plan), target, tiny_config)

    others = {v: work / f"results/finetune/{v}/model.keras" for v in runs(tiny_config) if v != target}
    before = {v: path.stat().st_mtime_ns for v, path in others.items()}
    table_before = (work / "results/tables/finetune.csv").stat().st_mtime_ns
    run = run_snakemake(work, f"results/finetune/{target}/metrics.json", "-j2", "--resources", "gpu=1",
                        "--configfile", *TINY_RUN_CONFIGS, timeout=600)
    assert run.returncode == 0, out(run)
    assert job_counts(out(run)) == {"finetune": 1}
    assert {v: path.stat().st_mtime_ns for v, path in others.items()} == before
    assert all((metrics.parent / name).is_file() for name in VARIANT_FILES)
    assert (work / "results/tables/finetune.csv").stat().st_mtime_ns == table_before
    assert re.search(r"^Epoch 1/", (work / f"logs/finetune/{target}.log").read_text(), re.M)  # it trained

    # The tables are now older than the retrained variant. Snakemake rebuilds them only if an input's
    # content changed (files under 1 MB are compared by checksum): training is deterministic, so the new
    # metrics.json can equal the recorded one byte for byte (wall_time_s is rounded to 0.1 s) — then
    # the tables stay. (This made the test flaky when it always expected a rebuild.)
    rest = run_snakemake(work, "-n", "--configfile", *TINY_RUN_CONFIGS, timeout=300)
    assert rest.returncode == 0, out(rest)
    # The retrained model.keras is new (over 1 MB: compared by time), so its attacks always rerun.
    counts = job_counts(out(rest))
    assert "finetune" not in counts and "train_classical" not in counts
    assert set(counts) <= AGGREGATION | ROBUSTNESS_JOBS and "attack" in counts
    if metrics.read_bytes() != recorded:
        assert "finetune_table" in counts


@pytest.mark.slow
def test_a_second_seed_trains_alone_and_the_tables_show_mean_and_spread(tiny_run, tiny_config, tmp_path,
                                                                           run_snakemake):
    work = copy_run(tiny_run, tmp_path / "work")
    overlay = tmp_path / "seeds.yaml"
    overlay.write_text(yaml.safe_dump({"finetune": {"seeds": [42, 7]}}))
    config, args = config_for(*TINY_RUN_CONFIGS, overlay), ["--configfile", *TINY_RUN_CONFIGS, overlay]
    plan = run_snakemake(work, "-n", *args, timeout=300)
    assert plan.returncode == 0, out(plan)
    # seed 42's trainings are kept; ensembles and attacks use the first seed: they do not rerun. The classical
    # models with a random_state are refitted per seed; logistic regression has nothing random.
    assert sorted(planned_trainings(out(plan))) == sorted(runs(config, [7]))
    seeded = sorted(m for m, spec in config["classical"]["models"].items() if "random_state" in spec.get("params", {}))
    assert seeded and "logistic_regression" not in seeded
    assert sorted(re.findall(r"^Job \d+: Classical model (\S+)$", out(plan), re.M)) == seeded, out(plan)[-3000:]
    assert set(job_counts(out(plan))) == {"finetune", "finetune_table", "train_classical", "classical_table",
                                          "leaderboard", "plots", "comparisons", "provenance", "effective_config",
                                          "usage", "all"}, out(plan)[-3000:]

    run = run_snakemake(work, "-j2", "--resources", "gpu=2", *args, timeout=1200)
    assert run.returncode == 0, out(run)
    table = pd.read_csv(work / "results/tables/finetune.csv")
    assert len(table) == len(variants(config)) and (table["Seeds"] == 2).all()
    for _, row in table.iterrows():
        variant = f"{row['Architecture']}/{row['Strategy']}/{row['Augmentation']}"
        accuracies = [json.loads((work / f"results/finetune/{variant}/seed{seed}/metrics.json").read_text())
                      ["accuracy"] for seed in (42, 7)]
        assert row["Evaluation Accuracy"] == pytest.approx(np.mean(accuracies), abs=5.01e-5)
        assert row["Evaluation Accuracy Std"] == pytest.approx(np.std(accuracies, ddof=1), abs=5.01e-5)
    low = interval_headers(config["statistics"]["confidence_level"], repeated=True)["accuracy_low"]
    assert low in table.columns and (table[low] <= table["Evaluation Accuracy"] + 5.01e-5).all()
    comparisons = pd.read_csv(work / "results/tables/comparisons.csv")
    augmentation = comparisons[comparisons["Comparison"].str.startswith("augmentation")]
    assert len(augmentation) and set(augmentation["Test"]) == {"paired permutation"}
    board = pd.read_csv(work / "results/tables/leaderboard.csv")
    assert (board.loc[board["Family"] == "finetune", "Seeds"] == 2).all()
    table4 = pd.read_csv(work / "results/tables/classical.csv").set_index("Model")
    assert pd.isna(table4.loc["logistic_regression", "Seeds"])
    for model in seeded:
        repeats = json.loads((work / f"results/classical/{model}/metrics.json").read_text())["seed_accuracies"]
        assert sorted(repeats) == ["42", "7"] and table4.loc[model, "Seeds"] == 2, model
        assert table4.loc[model, "Accuracy over Seeds (mean)"] == pytest.approx(np.mean(list(repeats.values())),
                                                                               abs=5.01e-5), model

    # every seed votes (ensemble.seeds: all): the ensembles rerun on two trainings per member, nothing trains
    every_seed = tmp_path / "every_seed.yaml"
    every_seed.write_text(yaml.safe_dump({"finetune": {"seeds": [42, 7]}, "ensemble": {"seeds": "all"}}))
    voted = run_snakemake(work, "-j2", "--configfile", *TINY_RUN_CONFIGS, every_seed, timeout=600)
    assert voted.returncode == 0, out(voted)
    assert set(job_counts(out(voted))) == {"ensemble", "ensemble_table", "leaderboard", "plots", "comparisons",
                                           "provenance", "effective_config", "usage", "all"}, out(voted)[-3000:]
    members = [f"finetune/{m}/seed{seed}" for m in config["ensemble"]["members"] for seed in (42, 7)]
    members += [f"classical/{m}" for m in config["ensemble"]["include_classical"]]
    soft = json.loads((work / "results/ensemble/soft_vote/metrics.json").read_text())
    assert soft["members"] == members
    probas = [np.load(work / f"results/{member}/proba_evaluation.npy") for member in members]
    assert np.allclose(np.load(work / "results/ensemble/soft_vote/proba_evaluation.npy"), np.mean(probas, axis=0))

    shutil.rmtree(work / f"results/finetune/{runs(config, [7])[0]}")  # one seed of one variant
    again = run_snakemake(work, "-n", *args, timeout=300)
    assert again.returncode == 0, out(again)
    assert planned_trainings(out(again)) == [runs(config, [7])[0]]


def test_listed_ensemble_seeds_train_only_the_members_and_vote(tiny_run, tiny_config, tmp_path, run_snakemake):
    overlay = tmp_path / "ensemble_seeds.yaml"
    overlay.write_text(yaml.safe_dump({"ensemble": {"seeds": [42, 7]}}))
    plan = run_snakemake(tiny_run, "-n", "--configfile", *TINY_RUN_CONFIGS, overlay, timeout=300)
    assert plan.returncode == 0, out(plan)
    # seed 7 of each member only: the grid's other variants, the tables' repeats and the classical models stay
    members = tiny_config["ensemble"]["members"]
    assert sorted(planned_trainings(out(plan))) == sorted(f"{m}/seed7" for m in members)
    assert set(job_counts(out(plan))) == {"finetune", "ensemble", "ensemble_table", "leaderboard", "plots",
                                          "comparisons", "provenance", "effective_config", "usage", "all"}, \
        out(plan)[-3000:]


@pytest.mark.slow
def test_results_from_before_seed_folders_are_taken_over_without_training(tiny_run, tiny_config, tmp_path,
                                                                           run_snakemake):
    """A study finished by a version that kept a variant's results in results/finetune/{arch}/{strategy}/{aug}/:
    its job finds that very training's kept state there and rebuilds the outputs from it, identical."""
    work = copy_run(tiny_run, tmp_path / "work")
    target = runs(tiny_config)[0]
    folder = work / "results/finetune" / target
    before = {name: (folder / name).read_bytes() for name in ("metrics.json", "history.csv", "proba_evaluation.npy")}
    shutil.move(folder / ".resume", folder.parent / ".resume")  # where the earlier version kept it
    shutil.rmtree(folder)

    run = run_snakemake(work, f"results/finetune/{target}/metrics.json", "-j1", "--resources", "gpu=1",
                        "--configfile", *TINY_RUN_CONFIGS, timeout=600)
    assert run.returncode == 0, out(run)
    log = (work / f"logs/finetune/{target}.log").read_text()
    assert "took over the state of this training" in log and "training already finished" in log, log[-3000:]
    assert not re.search(r"^Epoch \d+/", log, re.M)  # no epoch trained
    assert {name: (folder / name).read_bytes() for name in before} == before
    assert not (folder.parent / ".resume").exists()


CONFIG_EDITS_NO_JOB_READS = {
    # the EuroSAT converter's seed: data.source is synthetic here, so no job reads it
    "eurosat_seed": {"data": {"eurosat": {"seed": 7}}},
    # a schedule no strategy of the grid names
    "unused_schedule": {"schedules": {"cosine_someday": {"type": "constant"}}},
    # a strategy, an augmentation policy and an architecture setting that the grid does not use
    "unused_strategy": {"strategies": {"all_blocks": {"phases": [{"blocks": 2, "learning_rate": 0.01,
                                                                   "schedule": "constant"}]}}},
    "unused_architecture": {"architectures": {"vgg16": {"pretrain_learning_rate": 0.5}}},
}


@pytest.mark.slow
@pytest.mark.parametrize("edit", sorted(CONFIG_EDITS_NO_JOB_READS))
def test_config_edits_no_job_reads_retrain_nothing(edit, tiny_run, tmp_path, run_snakemake):
    overlay = tmp_path / "edit.yaml"
    overlay.write_text(yaml.safe_dump(CONFIG_EDITS_NO_JOB_READS[edit]))
    plan = run_snakemake(tiny_run, "-n", "--configfile", *TINY_RUN_CONFIGS, overlay, timeout=300)
    assert plan.returncode == 0, out(plan)
    # only the report's copy of the configuration is rewritten (its params are the whole config)
    assert job_counts(out(plan)) == {"effective_config": 1, "all": 1}, out(plan)[-3000:]


@pytest.mark.slow
def test_a_changed_learning_rate_retrains_exactly_that_strategy(tiny_run, tiny_config, tmp_path, run_snakemake):
    phases = copy.deepcopy(tiny_config["strategies"]["last_block"]["phases"])
    phases[0]["learning_rate"] *= 2
    overlay = tmp_path / "edit.yaml"
    overlay.write_text(yaml.safe_dump({"strategies": {"last_block": {"phases": phases}}}))
    plan = run_snakemake(tiny_run, "-n", "--configfile", *TINY_RUN_CONFIGS, overlay, timeout=300)
    assert plan.returncode == 0, out(plan)
    assert sorted(planned_trainings(out(plan))) == sorted(r for r in runs(tiny_config) if "/last_block/" in r)
    counts = job_counts(out(plan))
    assert set(counts) - {"finetune", "predict_scene", "evaluate_scene", "predict_chips"} <= \
        AGGREGATION | ROBUSTNESS_JOBS | EXPORT_JOBS
    assert "/last_block/" in tiny_config["predict"]["model"] and counts["predict_scene"] == 1  # its model retrains
    assert "/last_block/" in tiny_config["export"]["model"] and counts["export_model"] == 1



@pytest.mark.slow
def test_a_changed_attack_setting_reruns_the_attacks_and_no_training(tiny_run, tiny_config, tmp_path, run_snakemake):
    overlay = tmp_path / "edit.yaml"
    overlay.write_text(yaml.safe_dump({"robustness": {"pgd": {**tiny_config["robustness"]["pgd"], "steps": 4}}}))
    plan = run_snakemake(tiny_run, "-n", "--configfile", *TINY_RUN_CONFIGS, overlay, timeout=300)
    assert plan.returncode == 0, out(plan)
    counts = job_counts(out(plan))
    assert counts["attack"] == expected_job_counts(tiny_config)["attack"], out(plan)[-3000:]
    assert set(counts) <= ROBUSTNESS_JOBS | {"leaderboard", "plots", "effective_config", "model_card", "usage",
                                             "all"}, \
        out(plan)[-3000:]

def test_a_layer_that_does_nothing_stops_the_run_before_any_job(tmp_path, run_snakemake):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(yaml.safe_dump({"augmentations": {"standard": [{"RandomFlip": {"mode": "diagonal"}}]}}))
    result = run_snakemake(tmp_path, "-j1", "--configfile", TINY_CONFIG, overlay, timeout=300)
    assert result.returncode != 0
    assert ("augmentations.standard: RandomFlip {'mode': 'diagonal'} left every image unchanged"
            in out(result)), out(result)[-3000:]
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_outputs_deleted_after_a_finished_training_are_rebuilt_without_training(tiny_run, tiny_config, tmp_path,
                                                                                run_snakemake):
    """What --rerun-incomplete does after a killed Snakemake whose job went on and finished: the outputs
    are deleted and the job rerun. It rebuilds them from the kept state, identical, without training."""
    work = copy_run(tiny_run, tmp_path / "work")
    target = runs(tiny_config)[-1]
    folder = work / f"results/finetune/{target}"
    before = {name: (folder / name).read_bytes() for name in ("metrics.json", "history.csv", "proba_evaluation.npy")}
    for name in VARIANT_FILES:
        (folder / name).unlink()

    run = run_snakemake(work, f"results/finetune/{target}/metrics.json", "-j1", "--resources", "gpu=1",
                        "--configfile", *TINY_RUN_CONFIGS, timeout=600)
    assert run.returncode == 0, out(run)
    log = (work / f"logs/finetune/{target}.log").read_text()
    assert "training already finished for this definition" in log
    assert not re.search(r"^Epoch \d+/", log, re.M)  # no epoch trained
    assert {name: (folder / name).read_bytes() for name in before} == before
    rest = run_snakemake(work, "-n", "--configfile", *TINY_RUN_CONFIGS, timeout=300)
    # identical metrics: no table to rebuild; the rewritten model.keras (saved with its date) is attacked again
    # (the leaderboard has a robustness column; its plot follows it)
    # and the training's benchmark file is new: the usage tables again
    assert set(job_counts(out(rest))) <= ROBUSTNESS_JOBS | {"leaderboard", "plots", "usage", "all"}, out(rest)[-3000:]


@pytest.mark.slow
def test_a_broken_dataset_fails_clearly_and_spares_finished_results(tiny_run, tmp_path, run_snakemake):
    work = copy_run(tiny_run, tmp_path / "work")
    dataset = work / "results/data/synthetic.h5"
    splits = work / "results/data/splits.npz"
    finished, splits_before = digest(work / "results/finetune"), splits.read_bytes()
    dataset.write_bytes(os.urandom(4096))
    later = time.time() + 5
    os.utime(dataset, (later, later))

    result = run_snakemake(work, "results/data/splits.npz", "-j2", "--resources", "gpu=1",
                           "--forcerun", "make_splits", "--configfile", *TINY_RUN_CONFIGS, timeout=300)
    output = out(result)
    assert result.returncode != 0
    assert TRACEBACK not in output
    errors = [line for line in output.splitlines() if "results/data/synthetic.h5" in line and "HDF5" in line]
    assert len(errors) == 1, output  # one clear line: the file and what is wrong with it
    assert errors[0].startswith("Error in rule make_splits:")
    assert "HDF5" in (work / "logs/data/make_splits.log").read_text()
    # Finished variants are untouched; the failed job leaves no partial or stale splits file behind
    # (Snakemake removes the output of a job before it runs it: absent, or exactly the old bytes).
    assert digest(work / "results/finetune") == finished
    assert not splits.exists() or splits.read_bytes() == splits_before
    assert sorted(p.name for p in (work / "results/data").iterdir()) in (
        ["synthetic.h5"], ["splits.npz", "synthetic.h5"])


SHARED = REPO.parent / "shared"
EUROSAT_SAMPLE = SHARED / "data" / "eurosat-rgb-mini"
MOBILENET_WEIGHTS = SHARED / "weights" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


@pytest.mark.slow
def test_the_eurosat_recipe_runs_on_real_images_it_never_saw(tmp_path, run_snakemake):
    """config/eurosat.yaml as a user runs it, on the real EuroSAT images of the mini sample (disjoint from the
    development sample the recipe was measured on: rule eurosat_to_h5 reads its JPEGs) with the real MobileNetV2
    weights given as a pre-staged file (the cluster case without internet), shortened to one epoch at 96 instead of
    224 pixels: its trainings, their test-time augmentation, the 8-view features of the classical branch, the
    ensembles, and the export of its variant checked on the real held-out images."""
    if not EUROSAT_SAMPLE.is_dir() or not MOBILENET_WEIGHTS.is_file():
        pytest.skip(f"real EuroSAT sample or MobileNetV2 weights absent under {SHARED}")
    override = tmp_path / "unseen.yaml"
    override.write_text(yaml.safe_dump({
        "data": {"eurosat": {"archive": str(EUROSAT_SAMPLE)}},
        "evaluation": {"selection_fraction": 0.2},
        "architectures": {"mobilenet_v2": {"kwargs": {"alpha": 0.35}, "image_size": 96,
                                           "weights": str(MOBILENET_WEIGHTS)}},
        "features": {"image_size": 96},
        # one architecture here (the others' weights are not offline): its two strategies are the ensembles' members
        "finetune": {"architectures": ["mobilenet_v2"]},
        "training": {"epochs": 1},
        "ensemble": {"members": ["mobilenet_v2/recipe/dihedral", "mobilenet_v2/recipe_whole_base/dihedral"]},
        # one thread per job: -j2 runs two at once, beside make test's other workers
        "resources": {kind: {"threads": 1} for kind in ("finetune", "features", "classical")},
    }))
    export = "results/export/mobilenet_v2/recipe_whole_base/dihedral/export.json"  # eurosat.yaml's export.model
    targets = ["results/tables/finetune.md", "results/tables/ensemble.md", "results/tables/classical.md", export]
    # the timeout only catches a hang: ~3 min alone on 2 cores, 10 min beside make test's other worker and a training
    result = run_snakemake(tmp_path, *targets, "-j2", "--configfile", REPO / "config" / "eurosat.yaml", override,
                           timeout=2400)
    assert result.returncode == 0, out(result)[-4000:]
    assert "eurosat_to_h5" in out(result)
    splits = Splits.load(tmp_path / "results" / "data" / "splits.npz")
    assert len(splits.class_names) == 9 and "SeaLake" not in splits.class_names
    trainable = {}
    for strategy in ("recipe", "recipe_whole_base"):
        folder = tmp_path / f"results/finetune/mobilenet_v2/{strategy}/dihedral/seed42"
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["weights"] == str(MOBILENET_WEIGHTS) and metrics["epochs_run"] == 1
        trainable[strategy] = metrics["trainable_params"]
        tta = json.loads((folder / "tta/metrics.json").read_text())
        assert len(np.load(folder / "tta/proba_evaluation.npy")) == 18  # 20% of 10 real images per class
        assert 0.0 <= tta["accuracy"] <= 1.0
    assert trainable["recipe_whole_base"] > trainable["recipe"]  # the third block: the rest of the base
    features = np.load(tmp_path / "results/features/features.npz")
    assert features["train"].shape == (72, 1280)  # MobileNetV2 alpha 0.35, average-pooled, 8 views
    soft_vote = json.loads((tmp_path / "results/ensemble/soft_vote/metrics.json").read_text())
    assert 0.0 <= soft_vote["accuracy"] <= 1.0
    parity = json.loads((tmp_path / export).read_text())["parity"]
    assert [row["format"] for row in parity] == ["keras", "tf_saved_model", "onnx", "litert"]
    assert all(row["images"] == row["same_class"] == 18 and row["max_abs_diff"] <= 1e-4 for row in parity), parity


# --- what a person sees: tables in the page, the configuration, quiet terminal, logs without false alarms ----

ERROR_LEVEL = re.compile(r"^(E\d{4} |F\d{4} |\S+ \S+ (ERROR|CRITICAL) |Traceback)", re.M)  # absl, logging


@pytest.mark.slow
def test_tiny_run_job_logs_have_no_error_level_line(tiny_run):
    logs = sorted((tiny_run / "logs").rglob("*.log"))
    assert len(logs) >= 10
    errors = {str(log.relative_to(tiny_run)): ERROR_LEVEL.findall(log.read_text(errors="replace")) for log in logs}
    assert {log: found for log, found in errors.items() if found} == {}


@pytest.mark.slow
def test_tiny_run_terminal_shows_one_start_and_one_result_line_per_job(tiny_run, tiny_config):
    """The logger plugin's view (make demo): a start line per job, then the progress with the result line the job
    wrote to its log."""
    terminal = (tiny_run.parent / "tiny_run.out").read_text()
    for noise in ("absl::InitializeLog", "oneDNN", "cpu_feature_guard", "UserWarning", "Shell command"):
        assert noise not in terminal, noise
    jobs = sum(expected_job_counts(tiny_config).values())
    assert len(re.findall(r"^Job \d+: ", terminal, re.M)) == jobs
    steps = re.findall(r"^\[(\d+)/(\d+)\] (.*) \[\d+ s\]$", terminal, re.M)
    assert [(int(done), int(total)) for done, total, _ in steps] == [(i, jobs) for i in range(1, jobs + 1)]
    results = [result for _, _, result in steps]
    # every job logs a result line but the target rule `all`, which runs nothing (its message, then "done")
    assert [index for index, result in enumerate(results) if result.endswith(": done")] == [len(results) - 1]
    trained = [re.fullmatch(r"finetune (\S+): evaluation accuracy \d\.\d{4}, best epoch \d+ of \d+", result)
               for result in results]
    assert sorted(match[1] for match in trained if match) == sorted(runs(tiny_config))
    classical = [re.fullmatch(r"classical (\S+): evaluation accuracy \d\.\d{4}", result) for result in results]
    assert sorted(match[1] for match in classical if match) == sorted(tiny_config["classical"]["models"])


@pytest.mark.slow
def test_tiny_run_html_tables_show_every_row_under_a_synthetic_data_title(tiny_run, tiny_config):
    for table in TABLES:
        page = (tiny_run / f"results/tables/{table}.html").read_text()
        rows = pd.read_csv(tiny_run / f"results/tables/{table}.csv", dtype=str, keep_default_na=False)
        assert page.count("<tr>") == len(rows) + 1, table  # header and one row per CSV row
        assert "(synthetic demo data)</h3>" in page, table
        first = rows.iloc[0].tolist()
        assert all(cell.replace(", ", "<br>") in page for cell in first), (table, first)
    table5 = pd.read_csv(tiny_run / "results/tables/finetune.csv")
    assert "Validation Accuracy (selection split)" in table5.columns


@pytest.mark.slow
def test_tiny_run_effective_configuration_is_the_merged_config(tiny_run, tiny_config):
    effective = yaml.safe_load((tiny_run / "results/config/effective_config.yaml").read_text())
    assert effective == tiny_config
    page = (tiny_run / "results/config/effective_config.html").read_text()
    assert str(TINY_CONFIG) in page and "synthetic demo data" in page


@pytest.mark.slow
def test_test_time_augmentation_and_the_ablation_table_evaluate_saved_models_without_training(
        tiny_run, tiny_config, tmp_path, run_snakemake):
    """Turning test-time augmentation on evaluates each saved model again (rule finetune_tta) and the tables use
    those numbers; nothing is trained and the splits stay. The ablation table reads the rows' folders."""
    work = copy_run(tiny_run, tmp_path / "work")
    overlay = tmp_path / "tta.yaml"
    row = "mobilenet_v2/last_block/none"
    overlay.write_text(yaml.safe_dump({
        "evaluation": {**tiny_config["evaluation"], "test_time_augmentation": "dihedral"},
        "ablation": [{"label": "plain", "variant": row},
                     {"label": "with TTA", "variant": row, "test_time_augmentation": True, "final": True}],
    }))
    splits = (work / "results/data/splits.npz").read_bytes()
    result = run_snakemake(work, "results/tables/finetune.md", "results/tables/ablation.md", "-j2", "--resources",
                           "gpu=2", "--configfile", *TINY_RUN_CONFIGS, overlay, timeout=900)
    assert result.returncode == 0, out(result)[-4000:]
    assert job_counts(out(result)) == {"finetune_tta": len(runs(tiny_config)), "finetune_table": 1,
                                       "ablation_table": 1}, out(result)[-3000:]
    assert (work / "results/data/splits.npz").read_bytes() == splits

    folder = work / f"results/finetune/{row}/seed{seeds(tiny_config)[0]}"
    plain, tta = (json.loads((path / "metrics.json").read_text()) for path in (folder, folder / "tta"))
    assert tta["test_time_augmentation"] == "dihedral (8 views)" and tta["accuracy_without_tta"] == plain["accuracy"]
    proba = np.load(folder / "tta/proba_evaluation.npy")
    y_evaluation = Splits.load(work / "results/data/splits.npz").y_evaluation
    assert tta["accuracy"] == pytest.approx(float((proba.argmax(1) == y_evaluation).mean()))
    table = pd.read_csv(work / "results/tables/finetune.csv")
    line = table[(table["Strategy"] == "last_block") & (table["Augmentation"] == "none")]
    assert line["Evaluation Accuracy"].item() == pytest.approx(tta["accuracy"], abs=1e-4)

    ablation = pd.read_csv(work / "results/tables/ablation.csv")
    assert ablation["Step"].tolist() == ["plain", "with TTA"]
    assert ablation["Accuracy (mean)"].tolist() == pytest.approx([plain["accuracy"], tta["accuracy"]], abs=1e-4)
    assert ablation["Change from the step before"].iloc[1] == pytest.approx(tta["accuracy"] - plain["accuracy"],
                                                                            abs=1e-4)
    document = (work / "results/tables/ablation.md").read_text()
    assert f"## The recipe per class: {row} with test-time augmentation" in document
