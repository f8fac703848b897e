import re
import os
import sys
from pathlib import Path, PurePosixPath

from snakemake.exceptions import WorkflowError

# Rule scripts import the library from src/; exported so local, conda and SLURM jobs all see it.
SRC = str(Path(workflow.basedir) / "src")
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])))
sys.path.insert(0, SRC)

from landcover_transfer.workflow.config import (
    ablation_batch_sizes,
    ablation_folders,
    check_inputs,
    ensemble_seeds,
    evaluation_folder,
    check_references,
    export_models,
    finetune_seeds,
    predict_models,
    prestaged_weights,
    run_ids,
    uses_stand_in_pretraining,
    variant_ids,
    weights_for,
)
from landcover_transfer.workflow.config_schema import validate_config
from landcover_transfer.workflow.errors import ConfigError

try:
    validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")
    check_references(config)
    check_inputs(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None


onstart:
    # Before any job is submitted (not in dry runs): on SLURM, the profile's site settings filled in; then (it imports
    # Keras) augmentation layers and optimizers built and tried once, skipped where that very probe passed before
    # (finetune/probe.py).
    if getattr(workflow.executor_plugin, "name", None) == "slurm":
        from landcover_transfer.workflow.cluster import site_partitions, slurm_profile_problems

        problems = slurm_profile_problems(
            workflow.resource_settings.default_resources.args,
            workflow.executor_settings.partition_config,
            site_partitions(),
        )
        if problems:
            raise WorkflowError("\n".join(problems))
    from landcover_transfer.finetune.probe import grid_problems

    problems = grid_problems(
        {name: config["augmentations"][name] for name in AUGMENTATIONS},
        {name: config["strategies"][name] for name in STRATEGIES},
    )
    if problems:
        raise WorkflowError("invalid configuration:\n  " + "\n  ".join(problems))


localrules:
    make_splits,
    classical_table,
    finetune_table,
    ensemble,
    ensemble_table,
    leaderboard,
    plots,
    comparisons,
    effective_config,
    provenance,
    robustness_table,
    robustness_plots,
    model_card,
    evaluate_scene,
    usage,


GRID = config["finetune"]
ARCHS = GRID["architectures"]
STRATEGIES = GRID["strategies"]
AUGMENTATIONS = GRID["augmentations"]
SEEDS = finetune_seeds(config)
# Ensembles, attacks and the transfer matrix use each variant's first seed (repeats measure the spread of the
# fine-tuning itself; repeating every downstream analysis per seed would multiply the attacks, the costliest jobs).
FIRST_SEED = SEEDS[0]
CLASSICAL = list(config["classical"]["models"])
ENSEMBLE_METHODS = config["ensemble"]["methods"]
ROBUSTNESS = config["robustness"]
# Attacked models: every fine-tuned variant (white-box) and the ensembles' differentiable surrogate.
ATTACK_TARGETS = [f"finetune/{v}" for v in variant_ids(config)] + ["ensemble"]
# Test-time augmentation (evaluation only): tables and ensembles then read each training's tta/ folder (rule
# finetune_tta); attacks always target the model itself. Absent from a config: none (no default in the schema,
# so that the params of finished jobs stay as they were).
TTA = config["evaluation"].get("test_time_augmentation", "none")
# The variants whose saved models map the scenes of `predict.scenes`.
PREDICT_MODELS = predict_models(config)
# The scenes with a label raster: each map is also scored against it (rule evaluate_scene).
LABELLED_SCENES = [name for name, scene in config["predict"]["scenes"].items() if "labels" in scene]
# The variants shipped as Keras, SavedModel, ONNX and LiteRT files with a model card (target `export`).
EXPORT_MODELS = export_models(config)


def _alternatives(names):
    return "|".join(map(re.escape, names))


# The grid's names as the schema allows them (propertyNames of architectures, strategies, augmentations), not as
# lists of every configured name: a constraint is copied into every file pattern of the rules, and a list that grows
# with the grid made each file-name match slower the larger the grid (planning time grew faster than the jobs).
# No name starts with a dot, so no wildcard can be "..".
GRID_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.+-]*"


wildcard_constraints:
    arch=GRID_NAME,
    strategy=GRID_NAME,
    aug=GRID_NAME,
    seed=r"\d+",
    model=_alternatives(CLASSICAL),
    method=_alternatives(ENSEMBLE_METHODS),
    scene=_alternatives(config["predict"]["scenes"]) or "(?!)",
    chips=_alternatives(config["predict"]["chips"]) or "(?!)",


def scene_path(wildcards):
    return config["predict"]["scenes"][wildcards.scene]["path"]


def scene_reading(wildcards):
    """How a scene is read (path, bands, values): what its map depends on, its labels not included."""
    return {key: value for key, value in config["predict"]["scenes"][wildcards.scene].items() if key != "labels"}


def get_dataset(wildcards):
    """The HDF5 file every job reads: the user's file, or the one a data rule builds.

    An input function, so that --lint, --list-rules and --unlock work without the data file: only
    planning a job that reads it needs it.
    """
    source = config["data"]["source"]
    if source == "eurosat":
        return "results/data/earth_data.h5"
    if source == "synthetic":
        return "results/data/synthetic.h5"
    path = config["data"]["file"]
    if not Path(path).exists():
        raise WorkflowError(
            f"Dataset '{path}' not found (config data.source: file). Put the study's earth_data.h5 there, "
            f"or set data.file to its path; or build it from the EuroSAT RGB release with "
            f"--config 'data={{source: eurosat}}' (archive at data/EuroSAT.zip, see README); "
            f"or run the demo on synthetic data: make demo."
        )
    return followed(path)


def followed(path):
    """`path`, or its real path when it goes through a symlink: pointing the link elsewhere is then a new input,
    so the jobs that read it rerun. A plain path stays as written, so existing results keep their recorded input
    (also in a working directory reached through a symlink)."""
    real = os.path.realpath(path)
    return real if real != os.path.join(os.path.realpath(os.curdir), os.path.normpath(path)) else path


def get_weights_input(wildcards):
    """A weights file the job loads: the stand-in pre-trained weights (weights null, random_weights_policy
    pretrain) or a pre-staged file, so that the dry run names a missing one."""
    arch = getattr(wildcards, "arch", None) or config["features"]["architecture"]
    if uses_stand_in_pretraining(config, arch):
        return f"results/pretrained/{arch}.weights.h5"
    return prestaged_weights(config, arch) or []


def get_weights_param(wildcards, input):
    """What Keras gets as `weights=`: imagenet, None, the stand-in file, or a pre-staged file."""
    if input.get("weights"):
        return input.weights
    return weights_for(config, getattr(wildcards, "arch", None) or config["features"]["architecture"])


# Each job's params carry exactly the config entries it uses: Snakemake reruns a job whose params
# changed, so an edit to an entry a job does not read must not retrain it.
BASE_KEYS = ("constructor", "preprocess", "kwargs")
ARCH_KEYS = {
    "finetune": (*BASE_KEYS, "blocks", "head_batchnorm", "image_size"),
    "pretrain": (*BASE_KEYS, "image_size", "pretrain_learning_rate"),
    "features": BASE_KEYS,
}
# what the stand-in pre-training reads of `training` (not epochs, early stopping)
PRETRAIN_TRAINING_KEYS = ("seed", "batch_size", "image_size", "deterministic", "mixed_precision", "jit_compile")


def used(section, keys):
    return {key: section[key] for key in keys if key in section}


def arch_params(job, arch=None):
    """The entries of an architecture that `job` reads; `arch` fixed, or the {arch} wildcard's."""
    if arch:
        return used(config["architectures"][arch], ARCH_KEYS[job])
    return lambda wildcards: used(config["architectures"][wildcards.arch], ARCH_KEYS[job])


def data_reading():
    """What reading the dataset file needs of `data` (the source is the input file itself)."""
    return used(config["data"], ("keys", "class_names"))


def get_strategy_schedules(wildcards):
    """The schedules the variant's strategy names (not every configured one)."""
    names = [phase["schedule"] for phase in config["strategies"][wildcards.strategy]["phases"]]
    return {name: config["schedules"][name] for name in names}


def variant_dir(arch="{arch}", strategy="{strategy}", aug="{aug}", seed="{seed}"):
    """The result folder of one training: a variant and one of its seeds."""
    return f"results/finetune/{arch}/{strategy}/{aug}/seed{seed}"


def first_seed_folders():
    """Each variant's result folder of its first seed (what ensembles and attacks use)."""
    return [f"results/finetune/{run}" for run in run_ids(config, [FIRST_SEED])]


def classical_spec(model):
    """A classical model's config entry; with several seeds (finetune.seeds) one with a `random_state` also gets
    `repeat_seeds`, and its job refits it with each. With one seed the entry is as configured, so a finished
    result stays finished."""
    spec = config["classical"]["models"][model]
    if len(SEEDS) > 1 and "random_state" in spec.get("params", {}):
        return {**spec, "repeat_seeds": SEEDS}
    return spec


def get_variant_metrics():
    """Every training's metrics.json (all variants, all seeds)."""
    return [f"results/finetune/{run}/metrics.json" for run in run_ids(config)]


def evaluated(folder):
    """Where a training's evaluation files are read from: its folder, or with test-time augmentation its tta/."""
    return evaluation_folder(folder, TTA != "none")


def result_folders(*families):
    """The result folders of model families (classical, finetune, ensemble), in config order."""
    folders = {
        "classical": [f"results/classical/{m}" for m in CLASSICAL],
        "finetune": [evaluated(f"results/finetune/{run}") for run in run_ids(config)],
        "ensemble": [f"results/ensemble/{m}" for m in ENSEMBLE_METHODS],
    }
    return [folder for family in families for folder in folders[family]]


def evaluation_probabilities(*families):
    """Each model's saved evaluation probabilities: the per-image correctness behind the accuracy intervals and
    the paired comparisons (with the evaluation labels of results/data/splits.npz)."""
    return [f"{folder}/proba_evaluation.npy" for folder in result_folders(*families)]


def strategy_depths():
    """Per strategy of the grid, the numbers of blocks its phases unfreeze (what the comparisons read of it)."""
    return {s: [phase["blocks"] for phase in config["strategies"][s]["phases"]] for s in STRATEGIES}


def result_metrics(*families):
    return [f"{folder}/metrics.json" for folder in result_folders(*families)]


def ensemble_candidate_folders(seeds):
    """The training folders an ensemble chooses its members from, of each seed in `seeds`: the listed members
    (`ensemble.members` as a list), else every variant (best_per_architecture chooses inside the job)."""
    members = config["ensemble"]["members"]
    if isinstance(members, list):
        return [variant_dir(*member.split("/"), seed=seed) for member in members for seed in seeds]
    return [f"results/finetune/{run}" for run in run_ids(config, seeds)]


def get_ensemble_inputs(wildcards):
    """The candidate members' metrics and probabilities of the seeds that vote (`ensemble.seeds`), and those of the
    classical models the ensembles include."""
    folders = [evaluated(folder) for folder in ensemble_candidate_folders(ensemble_seeds(config))]
    classical = [f"results/classical/{m}" for m in config["ensemble"]["include_classical"]]
    return {
        "metrics": [f"{folder}/metrics.json" for folder in folders],
        "classical_metrics": [f"{folder}/metrics.json" for folder in classical],
        "selection": [f"{folder}/proba_selection.npy" for folder in folders + classical],
        "evaluation": [f"{folder}/proba_evaluation.npy" for folder in folders + classical],
        "splits": "results/data/splits.npz",
    }


def ablation_results(name):
    """A file of every folder of the ablation rows (config `ablation`), row by row and seed by seed: metrics.json and
    report.csv where the row is evaluated, history.csv from each training's own folder."""
    rows = config["ablation"]
    if name == "history.csv":
        rows = [{**row, "test_time_augmentation": False} for row in rows]
    return [f"{folder}/{name}" for row in rows for folder in ablation_folders(row, SEEDS)]


def resource(kind, key):
    """config `resources` (the one place for threads, memory, runtime and GPUs of the heavy rules; the schema
    requires every entry but `gpu`)."""
    return config["resources"][kind].get(key, 0)


def scaled(kind, key):
    """Memory and runtime grow with each retry (`--retries`): the first failure is often the limit itself."""
    base = resource(kind, key)
    return lambda wildcards, attempt: base * attempt


def get_attack_inputs(wildcards):
    """The attacked model (a variant's first seed); for the ensemble surrogate its candidate members' first seed
    (ensemble_candidate_folders; members are chosen inside the job)."""
    files = {"dataset": get_dataset(wildcards), "splits": "results/data/splits.npz"}
    if wildcards.target == "ensemble":
        folders = ensemble_candidate_folders([FIRST_SEED])
        files["models"] = [f"{folder}/model.keras" for folder in folders]
        files["metrics"] = [f"{folder}/metrics.json" for folder in folders]
    else:
        files["models"] = [f"results/{wildcards.target}/seed{FIRST_SEED}/model.keras"]
    return files


# what choosing the attacked images needs of `robustness` (the transfer matrix reads no more)
SUBSET_KEYS = ("subset_size", "seed", "batch_size")


def attack_settings():
    """What the attack jobs read of `robustness`: the budgets, the subset, and the settings sections (`pgd`,
    `autoattack`; FGSM has none) of the configured attacks only."""
    keys = (*SUBSET_KEYS, "eps", "transfer_eps", *(attack for attack in ROBUSTNESS["attacks"] if attack in ROBUSTNESS))
    return used(ROBUSTNESS, keys)


def get_attack_results():
    return expand(
        "results/robustness/{target}/{attack}/robust.json", target=ATTACK_TARGETS, attack=ROBUSTNESS["attacks"]
    )


def training_runs():
    """Every training the study's targets plan, as 'arch/strategy/aug/seed{n}': the grid's runs, the ensembles'
    candidates of their own seeds, and the first seeds that attacks, maps and exports use."""
    folders = [*first_seed_folders(), *ensemble_candidate_folders(ensemble_seeds(config))]
    return list(dict.fromkeys([*run_ids(config), *(folder.removeprefix("results/finetune/") for folder in folders)]))


def benchmarked_jobs():
    """(rule, benchmark file, the file the job writes last) of each job of the study that writes a benchmark file.
    Only jobs that the study's targets already plan: a listed file of any other job would schedule that job."""
    runs = training_runs()
    pretrained = {PurePosixPath(run).parts[0] for run in runs} | {config["features"]["architecture"]}
    dataset_job = {"synthetic": "synthetic_dataset", "eurosat": "eurosat_to_h5"}.get(config["data"]["source"])
    jobs = [(dataset_job, f"benchmarks/data/{dataset_job}.tsv", get_dataset(None))] if dataset_job else []
    return jobs + [
        *[
            ("pretrain_base", f"benchmarks/pretrain/{arch}.tsv", f"results/pretrained/{arch}.weights.h5")
            for arch in sorted(pretrained)
            if uses_stand_in_pretraining(config, arch)
        ],
        *[("finetune", f"benchmarks/finetune/{run}.tsv", f"results/finetune/{run}/metrics.json") for run in runs],
        *[
            ("finetune_tta", f"benchmarks/finetune/{run}.tta.tsv", f"results/finetune/{run}/tta/metrics.json")
            for run in runs
            if TTA != "none"
        ],
        ("extract_features", "benchmarks/classical/extract_features.tsv", "results/features/features.npz"),
        *[
            ("train_classical", f"benchmarks/classical/{m}.tsv", f"results/classical/{m}/metrics.json")
            for m in CLASSICAL
        ],
        *[("ensemble", f"benchmarks/ensemble/{m}.tsv", f"results/ensemble/{m}/metrics.json") for m in ENSEMBLE_METHODS],
        *[
            ("attack", f"benchmarks/robustness/{target}.tsv", f"results/robustness/{target}/{attack}/robust.json")
            for target in ATTACK_TARGETS
            for attack in ROBUSTNESS["attacks"][-1:]
        ],
        ("transfer_matrix", "benchmarks/robustness/transfer_matrix.tsv", "results/robustness/transfer.csv"),
        *[
            ("predict_scene", f"benchmarks/predict/{s}.tsv", f"results/predict/{s}/summary.json")
            for s in config["predict"]["scenes"]
        ],
        *[
            ("predict_chips", f"benchmarks/predict/chips/{c}.tsv", f"results/predict/chips/{c}/summary.json")
            for c in config["predict"]["chips"]
        ],
        *[("export_model", f"benchmarks/export/{v}.tsv", f"results/export/{v}/export.json") for v in EXPORT_MODELS],
    ]


def benchmark_files(wildcards):
    """The benchmarked jobs' files by rule (rule usage), but not those of finished jobs that have none (written
    before the workflow recorded them, or deleted): asking for one would rerun a finished training."""
    files = {}
    for rule, benchmark, written in benchmarked_jobs():
        if os.path.exists(benchmark) or not os.path.exists(written):
            files.setdefault(rule, []).append(benchmark)
    return files


def unmeasured_jobs(wildcards):
    """The finished jobs without a benchmark file (benchmark_files), named in the usage tables."""
    return [
        benchmark
        for _, benchmark, written in benchmarked_jobs()
        if os.path.exists(written) and not os.path.exists(benchmark)
    ]


# The config `resources` entry whose `gpu` the jobs of each rule request (the rules' `gpu=resource(...)`).
GPU_RESOURCES = {
    "pretrain_base": "pretrain",
    "finetune": "finetune",
    "finetune_tta": "finetune",
    "extract_features": "features",
    "attack": "attack",
    "predict_scene": "predict",
    "predict_chips": "predict",
    "value_mappings": "predict",
    "export_model": "export",
}


def requested_gpus(wildcards, input):
    """GPUs each benchmarked rule's jobs request."""
    return {rule: resource(GPU_RESOURCES[rule], "gpu") if rule in GPU_RESOURCES else 0 for rule in input.keys()}
