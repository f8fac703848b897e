"""The command line: every `snakemake` command and `--config` form the README and the pages of docs/ show, the
commands that must work without the data file, and configuration or input mistakes caught by the dry run in one
short message.

Dry runs only (a few seconds each), in temporary working directories; the `--report` command needs
finished results and runs on the tiny end-to-end run (slow).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from landcover_transfer.data.dataset import write_dataset
from landcover_transfer.data.synthetic import make_synthetic

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
# The pages of docs/, by path: what they show is tested as what the README shows.
DOCS = {f"docs/{page.name}": page.read_text() for page in sorted((REPO / "docs").glob("*.md"))}
SHOWN = {"README.md": README, **DOCS}
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"
TRACEBACK = "Traceback (most recent call last)"

# Every full command of the README, in the order readme_commands() finds them; SLURM ones
# (`--profile profiles/slurm`) are covered by test_slurm_*.py.
README_COMMANDS = [
    ".venv/bin/snakemake --profile profiles/slurm",
    ".venv/bin/snakemake --profile profiles/slurm --configfile config/eurosat.yaml",
    "snakemake -j4 --configfile config/eurosat.yaml",
    "snakemake -j4 --configfile seed43.yaml",
    "snakemake -j4 all_data",
    "snakemake -j4 results/finetune/vgg16/last_two_blocks/standard/seed42/metrics.json",
    "snakemake --profile profiles/slurm results/finetune/<arch>/<strategy>/<aug>/seed<n>/metrics.json",
    "snakemake --profile profiles/slurm --unlock",
    ".venv/bin/snakemake -j4",
    "snakemake --report results/report.html",
]
# Every full command of each page of docs/ that shows one (docs/benchmarks.md: the dry run it times).
DOCS_COMMANDS = {
    "docs/benchmarks.md": ["snakemake -n"],
    "docs/cluster.md": [
        "snakemake --profile profiles/slurm results/finetune/<arch>/<strategy>/<aug>/seed<n>/metrics.json",
        "snakemake --profile profiles/slurm --unlock",
        "snakemake --list-changes code",
    ],
    "docs/configuration.md": [".venv/bin/snakemake --configfile my.yaml -j4", "snakemake -j4"],
    "docs/export.md": ["snakemake -j4 export --configfile config/eurosat.yaml ship.yaml"],
    "docs/predict.md": [
        "snakemake -j4 predict --configfile config/eurosat.yaml scenes.yaml",
        "snakemake -j4 results/predict/wales/value_mappings.csv --configfile config/eurosat.yaml scenes.yaml",
    ],
    "docs/study.md": [
        "snakemake -j4 --configfile seeds.yaml",
        "snakemake --report results/report.html",
        "snakemake -j4 results/tables/comparisons.csv",
    ],
}
# Commands that do not plan jobs, so `-n` does not apply.
NOT_DRY_RUNNABLE = ("--report", "--unlock", "--list-changes")


def shown_commands(text: str) -> list[str]:
    """`snakemake` commands in a page's bash blocks and inline code, comments removed."""
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    lines = [re.sub(r"\s+#.*$", "", line).strip() for block in blocks for line in block.splitlines()] + inline
    return [line for line in lines if re.match(r"(\.venv/bin/)?snakemake ", line)]


def readme_commands() -> list[str]:
    return shown_commands(README)


def docs_commands() -> dict[str, list[str]]:
    return {page: commands for page, text in DOCS.items() if (commands := shown_commands(text))}


def shown_config_options() -> list[str]:
    """Every `--config` form the README and the docs pages show."""
    return sorted({option for text in SHOWN.values() for option in re.findall(r"`(--config [^`]+)`", text)})


def runs_here(command: str) -> bool:
    """Run in a temporary working directory: not the SLURM ones, not the report (it needs finished results)."""
    return "profiles/slurm" not in command and not command.startswith("snakemake --report")


def out(result) -> str:
    return result.stdout + result.stderr


@pytest.fixture
def study_dir(tmp_path) -> Path:
    """A working directory with a tiny data/earth_data.h5 and the override files the README and docs pages write."""
    write_dataset(tmp_path / "data" / "earth_data.h5", make_synthetic(3, 2))
    for printf in re.findall(r"^printf .* > \S+\.yaml$", "\n".join(SHOWN.values()), re.M):
        subprocess.run(printf, shell=True, cwd=tmp_path, check=True)
    (tmp_path / "my.yaml").write_text("training: {epochs: 8}\n")  # > progressive phase 1 (5 epochs)
    (tmp_path / "data" / "EuroSAT.zip").write_bytes(b"")  # for data.source eurosat (a dry run does not read it)
    (tmp_path / "data" / "scene.tif").write_bytes(b"")  # docs/predict.md's scene, likewise
    shutil.copytree(REPO / "config", tmp_path / "config")  # the shipped override files, as in a clone
    return tmp_path


def test_the_list_of_readme_commands_is_complete():
    assert readme_commands() == README_COMMANDS


def test_the_list_of_docs_commands_is_complete():
    assert docs_commands() == DOCS_COMMANDS


@pytest.mark.parametrize("command", [c for c in README_COMMANDS if runs_here(c)])
def test_readme_command_runs(command, study_dir, run_snakemake):
    check_command_runs(command, study_dir, run_snakemake)


@pytest.mark.parametrize("command", sorted({c for commands in DOCS_COMMANDS.values() for c in commands
                                            if runs_here(c) and c not in README_COMMANDS}))
def test_docs_command_runs(command, study_dir, run_snakemake):
    check_command_runs(command, study_dir, run_snakemake)


def check_command_runs(command, study_dir, run_snakemake):
    args = shlex.split(command)[1:]
    if not any(option in args for option in NOT_DRY_RUNNABLE):
        args.append("-n")
    result = run_snakemake(study_dir, *args)
    assert result.returncode == 0, out(result)
    assert TRACEBACK not in out(result)
    if "-n" in args:
        assert "finetune" in out(result) or "make_splits" in out(result), out(result)
    # a plain data file is the input as written (the EuroSAT recipe builds its file)
    if "make_splits" in out(result) and "-d" not in args and "eurosat" not in command:
        assert re.search(r"^Job \d+: Fit, selection and evaluation splits of data/earth_data\.h5 -> ", out(result),
                         re.M), out(result)
    for override in re.findall(r"\S+\.yaml", command):
        config_line = re.search(rf"Config file\(s\): .*{re.escape(override)}", out(result))
        assert config_line, out(result)
    if command.endswith("eurosat.yaml"):  # the recipe: its grid, every variant at 224 px
        trainings = re.findall(r"^Job \d+: Fine-tuning (\S+) \(seed (\d+)\)$", out(result), re.M)
        recipe = yaml.safe_load((REPO / "config" / "eurosat.yaml").read_text())["finetune"]
        assert sorted(variant for variant, _ in trainings) == sorted(
            f"{arch}/{strategy}/{aug}" for arch in ("vgg16", "resnet50", "mobilenet_v2")
            for strategy in recipe["strategies"] for aug in recipe["augmentations"])
        assert "eurosat_to_h5" in out(result) and "finetune_tta" in out(result), out(result)
    if "predict" in args:  # docs/predict.md: the scene's map, after the training of its model
        assert re.search(r"^Job \d+: Land-cover map of scene wales -> results/predict/wales/$", out(result), re.M)
    if "export" in args:  # docs/export.md: the variant's files and card, after its training
        assert re.search(r"^Job \d+: Exporting mobilenet_v2/recipe/dihedral -> ", out(result), re.M), out(result)
        assert "model_card" in out(result)
    if "value_mappings.csv" in command:  # ... and its value mappings measured
        assert re.search(r"^Job \d+: The value mappings of scene wales compared -> ", out(result), re.M)
    if command.endswith("seeds.yaml"):  # three seeds: three trainings of each variant
        trainings = re.findall(r"^Job \d+: Fine-tuning (\S+) \(seed (\d+)\)$", out(result), re.M)
        assert sorted({seed for _, seed in trainings}) == ["42", "43", "44"], out(result)
        assert Counter(variant for variant, _ in trainings) == {v: 3 for v, _ in trainings}, out(result)
    assert not (study_dir / "results").exists()


# What the README and the docs pages say of each `--config` form: works, or which one line it fails with.
CONFIG_OPTIONS = {
    "--config 'data={source: eurosat}'": "works",
    "--config 'finetune={\"architectures\":[\"vgg16\",\"mobilenet_v2\"],\"strategies\":[\"last_block\","
    "\"last_two_blocks\",\"progressive\"],\"augmentations\":[\"none\",\"standard\"]}'": "works",
    "--config training.seed=43": "Config entry must start with a valid identifier",  # Snakemake's own parser
    "--config 'training={seed: 43}'": "training.seed: '43' is not of type 'integer'; a value given inside a "
                                      "--config mapping arrives as text: set it in a file passed with --configfile "
                                      "(docs/configuration.md, 'Changing settings')",
    "--config weights=null": "weights: 'null' is text, not null; a value given inside a --config mapping arrives "
                             "as text: set it in a file passed with --configfile "
                             "(docs/configuration.md, 'Changing settings')",
    "--config KEY=VALUE": None,  # the form, not a command
}


def test_every_config_option_the_readme_and_docs_show_is_covered():
    assert shown_config_options() == sorted(CONFIG_OPTIONS)


@pytest.mark.parametrize("option", [o for o, expected in CONFIG_OPTIONS.items() if expected])
def test_readme_or_docs_config_option_does_what_they_say(option, study_dir, run_snakemake):
    result = run_snakemake(study_dir, "-n", *shlex.split(option))
    if CONFIG_OPTIONS[option] == "works":
        assert result.returncode == 0, out(result)
        assert "finetune" in out(result)
    else:
        assert result.returncode != 0
        assert CONFIG_OPTIONS[option] in out(result)
        assert "Failed validating" not in out(result)


def test_a_mapping_given_with_config_is_merged_into_its_section(tmp_path, run_snakemake):
    result = run_snakemake(tmp_path, "-n", "--configfile", TINY_CONFIG,
                           "--config", "finetune={architectures: [mobilenet_v2, vgg16]}")
    assert result.returncode == 0, out(result)
    # tiny.yaml's two strategies and two augmentations are kept: merged, not replaced
    assert re.search(r"^finetune +8$", out(result), re.M), out(result)


@pytest.mark.slow
def test_readme_report_command(tiny_run, tmp_path, run_snakemake):
    workdir = shutil.copytree(tiny_run, tmp_path / "run", symlinks=True)
    command = next(c for c in README_COMMANDS if c.startswith("snakemake --report"))
    result = run_snakemake(workdir, *shlex.split(command)[1:], "--configfile", str(TINY_CONFIG))
    assert result.returncode == 0, out(result)
    assert (workdir / "results" / "report.html").stat().st_size > 10_000


# --- without the data file ----------------------------------------------------------------------


@pytest.mark.parametrize("command, shows", [
    ("--lint", "Congratulations, your workflow is in a good condition!"),
    ("--list-rules", "finetune"),
    ("--unlock", "Unlocked working directory."),
])
def test_commands_that_plan_no_job_work_on_a_fresh_clone_without_the_data_file(command, shows, tmp_path,
                                                                                run_snakemake):
    result = run_snakemake(tmp_path, command)
    assert result.returncode == 0, out(result)
    assert shows in out(result)
    assert "not found" not in out(result)


def test_the_missing_data_message_suggests_a_command_line_that_works(tmp_path, run_snakemake):
    result = run_snakemake(tmp_path, "-n")
    assert result.returncode != 0
    message = re.search(r"Dataset 'data/earth_data\.h5' not found.*", out(result))[0]
    suggested = re.search(r"(--config '[^']+')", message)[1]
    assert suggested == "--config 'data={source: eurosat}'"
    assert suggested in README
    again = run_snakemake(tmp_path, "-n", *shlex.split(suggested))
    assert "Missing input files for rule eurosat_to_h5" in out(again) and "data/EuroSAT.zip" in out(again)


# --- config mistakes: one short message ---------------------------------------------------------


@pytest.mark.parametrize("override, line", [
    ("trainig: {epochs: 3}", "unknown config key 'trainig': did you mean 'training'?"),
    ("training: {epoch: 3}", "unknown config key 'training.epoch': did you mean 'training.epochs'?"),
    ("training.seed: 43", "unknown config key 'training.seed': a dotted name is not a path; nest it instead, "
                          "`training: {seed: 43}` in a file passed with --configfile "
                          "(docs/configuration.md, 'Changing settings')"),
])
def test_a_misspelt_key_is_one_short_message_not_a_schema_dump(override, line, tmp_path, run_snakemake):
    (tmp_path / "typo.yaml").write_text(override + "\n")
    result = run_snakemake(tmp_path, "-n", "--configfile", str(TINY_CONFIG), "typo.yaml")
    output = out(result)
    assert result.returncode != 0
    assert f"invalid configuration:\n  {line}\n" in output
    error_part = output[output.index("WorkflowError"):]
    assert len(error_part.splitlines()) <= 5, error_part
    assert "Failed validating" not in output and TRACEBACK not in output


# --- pre-staged weights are inputs --------------------------------------------------------------


def test_a_missing_prestaged_weights_file_is_named_by_the_dry_run(tmp_path, run_snakemake):
    (tmp_path / "weights.yaml").write_text(yaml.safe_dump({"architectures": {"mobilenet_v2": {
        "weights": "weights/mobilenet_v2_notop.h5"}}}))
    result = run_snakemake(tmp_path, "-n", "all_finetune", "--configfile", str(TINY_CONFIG), "weights.yaml")
    output = out(result)
    assert result.returncode != 0
    assert re.search(r"Missing input files for rule finetune:\n(    .*\n)+?    affected files:\n"
                     r"        weights/mobilenet_v2_notop\.h5\n", output), output


def test_prestaged_weights_are_inputs_of_the_jobs_that_load_them(tmp_path, run_snakemake):
    (tmp_path / "weights").mkdir()
    for name in ("vgg16.h5", "mobilenet_v2.h5"):
        (tmp_path / "weights" / name).write_bytes(b"")
    (tmp_path / "weights.yaml").write_text(yaml.safe_dump({
        "weights": "weights/vgg16.h5", "architectures": {"mobilenet_v2": {"weights": "weights/mobilenet_v2.h5"}}}))
    result = run_snakemake(tmp_path, "-n", "--configfile", str(TINY_CONFIG), "weights.yaml")
    output = out(result)
    assert result.returncode == 0, output
    # the job messages name the inputs (finetune's weights input: see the missing-file test above)
    assert re.search(r"^Job \d+: Frozen features for the classical models from results/data/synthetic\.h5 "
                     r"weights/vgg16\.h5 -> ", output, re.M), output  # features: vgg16
    assert "pretrain_base" not in output


# --- listed ensemble members -------------------------------------------------------------------


@pytest.mark.parametrize("target", ["results/tables/ensemble.md", "results/robustness/ensemble/pgd/robust.json"])
def test_listed_ensemble_members_are_the_only_trainings_an_ensemble_needs(target, tmp_path, run_snakemake):
    """With `ensemble.members` a list, the ensembles and the ensemble surrogate's attack train only those variants
    (best_per_architecture needs every variant: it chooses inside the job)."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    members = config["ensemble"]["members"]
    grid = config["finetune"]
    assert len(members) < len(grid["architectures"]) * len(grid["strategies"]) * len(grid["augmentations"])
    result = run_snakemake(tmp_path, "-n", target, "--configfile", str(TINY_CONFIG))
    assert result.returncode == 0, out(result)
    trained = re.findall(r"^Job \d+: Fine-tuning (\S+) \(seed \d+\)", out(result), re.M)
    assert sorted(trained) == sorted(members), out(result)


# --- a symlinked data file ----------------------------------------------------------------------


def test_pointing_a_symlinked_data_file_elsewhere_reruns_what_reads_it(tmp_path, run_snakemake):
    data = tmp_path / "data"
    write_dataset(data / "v1.h5", make_synthetic(10, 2, seed=1))
    write_dataset(data / "v2.h5", make_synthetic(10, 2, seed=2))
    os.utime(data / "v2.h5", (1_000_000_000, 1_000_000_000))  # an older file: mtimes alone would not tell
    link = data / "earth_data.h5"
    link.symlink_to("v1.h5")
    first = run_snakemake(tmp_path, "-j1", "results/data/splits.npz")
    assert first.returncode == 0, out(first)

    link.unlink()
    link.symlink_to("v2.h5")
    os.utime(link, (1_000_000_000, 1_000_000_000), follow_symlinks=False)  # as `cp -a` or tar restores it
    plan = run_snakemake(tmp_path, "-n", "results/data/splits.npz")
    assert plan.returncode == 0, out(plan)
    assert re.search(r"splits of \S*/data/v2\.h5 -> ", out(plan)), out(plan)
    assert "Set of input files has changed" in out(plan), out(plan)


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_a_data_file_copied_again_with_the_same_bytes_reruns_nothing(profile, tmp_path, run_snakemake):
    """The profiles' max-checksum-file-size: a newer modification time with the same content is no change."""
    settings = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())
    data = tmp_path / "data" / "earth_data.h5"
    write_dataset(data, make_synthetic(10, 2, seed=1))
    run = ("--max-checksum-file-size", settings["max-checksum-file-size"], "results/data/splits.npz")
    first = run_snakemake(tmp_path, "-j1", *run)
    assert first.returncode == 0, out(first)
    copy = tmp_path / "copy.h5"
    shutil.copyfile(data, copy)
    os.replace(copy, data)  # the same bytes, a newer modification time
    plan = run_snakemake(tmp_path, "-n", *run)
    assert plan.returncode == 0 and "Nothing to be done" in out(plan), out(plan)
    write_dataset(data, make_synthetic(10, 2, seed=2))  # other bytes: the split is made again
    plan = run_snakemake(tmp_path, "-n", *run)
    assert re.search(r"^Job \d+: Fit, selection and evaluation splits", out(plan), re.M), out(plan)


def test_a_symlinked_eurosat_archive_is_its_target(tmp_path, run_snakemake):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "EuroSAT-2019.zip").write_bytes(b"")
    (tmp_path / "data" / "EuroSAT.zip").symlink_to("EuroSAT-2019.zip")
    plan = run_snakemake(tmp_path, "-n", "all_data", "--config", "data={source: eurosat}")
    assert plan.returncode == 0, out(plan)
    target = re.escape(os.path.realpath(tmp_path / "data" / "EuroSAT-2019.zip"))
    assert re.search(rf"^Job \d+: EuroSAT release {target} -> ", out(plan), re.M), out(plan)


def test_readme_tensorboard_command_runs_the_installed_tensorboard_on_the_jobs_log_folder():
    command = re.search(r"^\.venv/bin/tensorboard (.+?)\s*$", DOCS["docs/cluster.md"], re.M)
    assert command and "--logdir logs/tensorboard" in command[1], "docs/cluster.md: the TensorBoard command"
    assert '"logs/tensorboard/' in (REPO / "rules" / "finetune.smk").read_text()  # where the jobs write
    tensorboard = Path(sys.executable).parent / "tensorboard"  # .venv/bin/tensorboard
    result = subprocess.run([str(tensorboard), "--version_tb"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and re.match(r"\d+\.\d+", result.stdout.strip()), result.stderr[-2000:]


DEV_SAMPLE = REPO.parent / "shared" / "data" / "eurosat-rgb-dev"


def test_make_recipe_plans_the_ablation_rows_on_the_development_sample(tmp_path):
    """`make recipe`'s Snakemake command, as make runs it, as a dry run: every row's trainings (one per seed; rows
    sharing a training share the job), the test-time augmentation of the rows that ask for it, and the table."""
    if not DEV_SAMPLE.is_dir():
        pytest.skip(f"the EuroSAT development sample is absent ({DEV_SAMPLE})")
    # under `make test`, make's own variables would make it print "Entering directory" lines among the commands
    outer_make = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
    environment = {name: value for name, value in os.environ.items() if name not in outer_make}
    make = ["make", "--no-print-directory", "-n", "recipe", f"RECIPE_DIR={tmp_path}", "RECIPE_ARGS=-n"]
    printed = subprocess.run(make, cwd=REPO, env=environment, capture_output=True, text=True,
                             check=True).stdout.replace("\\\n", " ")
    lines = printed.splitlines()
    run = next(index for index, line in enumerate(lines) if line.startswith(".venv/bin/snakemake"))
    for setup in lines[:run]:  # the copies of the sample and the weights into RECIPE_DIR
        subprocess.run(setup, shell=True, cwd=REPO, check=True)
    result = subprocess.run(lines[run], shell=True, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, out(result)[-3000:]
    config = yaml.safe_load((REPO / "config" / "recipe-dev.yaml").read_text())
    rows, seeds, members = config["ablation"], config["finetune"]["seeds"], config["ensemble"]["members"]
    chosen = config["ensemble"].get("seeds")
    voting = {(m, seed) for m in members
              for seed in (chosen if isinstance(chosen, list) else seeds if chosen == "all" else seeds[:1])}
    counts = dict(re.findall(r"^(\w+) +(\d+)$", out(result), re.M))
    trained = {(row["variant"], seed) for row in rows for seed in seeds} | voting
    assert int(counts["finetune"]) == len(trained)
    # the ensembles read the members' test-time augmented probabilities, as the recipe evaluates
    augmented = {(r["variant"], seed) for r in rows if r.get("test_time_augmentation") for seed in seeds}
    assert int(counts["finetune_tta"]) == len(augmented | voting)
    assert counts["ablation_table"] == counts["ensemble_table"] == counts["classical_table"] == "1"
    assert not (tmp_path / "results").exists() and (tmp_path / "data" / "eurosat-rgb-dev" / "2750").is_dir()
