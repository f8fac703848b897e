"""Checks the JSON schema cannot express: names that must refer to other config entries."""

from __future__ import annotations

import difflib

from landcover_transfer.workflow.errors import ConfigError

# Snakemake's `--config KEY=VALUE` reads the values inside a mapping as text ('43', 'true', 'null').
FROM_COMMAND_LINE = ("; a value given inside a --config mapping arrives as text: set it in a file passed with "
                     "--configfile (docs/configuration.md, 'Changing settings')")
NULL_AS_TEXT = ("null", "None", "~")
#: The pseudo-layer of an augmentation policy that turns on adversarial training (see finetune/adversarial_training.py).
ADVERSARIAL_ENTRY = "Adversarial"


def check_references(config: dict) -> None:
    """Raise one ConfigError listing every config entry that names something undefined."""
    problems = []

    def must_exist(names, section, where):
        for name in names:
            if name not in config[section]:
                problems.append(f"{where}: '{name}' is not defined in `{section}` "
                                f"(defined: {', '.join(sorted(config[section])) or 'none'})")

    grid = config["finetune"]
    must_exist(grid["architectures"], "architectures", "finetune.architectures")
    must_exist(grid["strategies"], "strategies", "finetune.strategies")
    must_exist(grid["augmentations"], "augmentations", "finetune.augmentations")
    must_exist([config["features"]["architecture"]], "architectures", "features.architecture")
    for name, strategy in config["strategies"].items():
        must_exist([phase["schedule"] for phase in strategy["phases"]], "schedules", f"strategies.{name}")
    deepest = max((phase["blocks"] for s in grid["strategies"] if s in config["strategies"]
                   for phase in config["strategies"][s]["phases"]), default=0)
    for name, arch in config["architectures"].items():
        if name in grid["architectures"] and deepest > len(arch["blocks"]):
            problems.append(f"architectures.{name}: a strategy unfreezes {deepest} blocks, "
                            f"only {len(arch['blocks'])} configured")
    problems += phases_beyond_epochs(config)
    required = {"hold_then_decay": ("hold_epochs", "factor"), "step": ("every", "factor")}
    for name, schedule in config["schedules"].items():
        missing = [key for key in required.get(schedule["type"], ()) if key not in schedule]
        if missing:
            problems.append(f"schedules.{name}: type {schedule['type']} needs {', '.join(missing)}")
    members = config["ensemble"]["members"]
    if isinstance(members, list):
        variants = set(variant_ids(config))
        problems += [f"ensemble.members: '{m}' is not in the fine-tuning grid" for m in members if m not in variants]
        if len(members) * len(ensemble_seeds(config)) + len(config["ensemble"]["include_classical"]) < 2:
            problems.append(f"ensemble.members: one member ({members[0]}) and one seed make no ensemble: list another "
                            "member, or set `ensemble.seeds: all` with several `finetune.seeds`")
    unknown_classical = [m for m in config["ensemble"]["include_classical"] if m not in config["classical"]["models"]]
    problems += [f"ensemble.include_classical: unknown classical model '{m}'" for m in unknown_classical]
    problems += ablation_problems(config)
    if config["predict"]["scenes"] or config["predict"]["chips"]:
        variants = set(variant_ids(config))
        problems += [f"predict.model: '{m}' is not in the fine-tuning grid" for m in predict_models(config)
                     if m not in variants]
    problems += [f"export.model: '{m}' is not in the fine-tuning grid" for m in export_models(config)
                 if m not in variant_ids(config)]
    robustness = config["robustness"]
    problems += [f"robustness.{key}: {robustness[key]} is not in robustness.eps {robustness['eps']}"
                 for key in ("headline_eps", "transfer_eps") if robustness[key] not in robustness["eps"]]
    if robustness["transfer_attack"] not in robustness["attacks"]:
        problems.append(f"robustness.transfer_attack: '{robustness['transfer_attack']}' is not in robustness.attacks")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def ablation_problems(config: dict) -> list[str]:
    """Ablation rows naming a variant outside the fine-tuning grid (only the grid's variants can be trained)."""
    variants = set(variant_ids(config))
    rows = config["ablation"]
    problems = [f"ablation: row '{row['label']}' names {row['variant']}, which is not in the fine-tuning grid "
                f"(finetune.architectures x strategies x augmentations)"
                for row in rows if row["variant"] not in variants]
    if sum(bool(row.get("final")) for row in rows) > 1:
        problems.append("ablation: more than one row is marked final")
    return problems


def phases_beyond_epochs(config: dict) -> list[str]:
    """Strategies of the grid whose phases do not all start within `training.epochs`: a phase that never
    runs would leave a run labelled with a strategy it did not follow."""
    epochs, problems = config["training"]["epochs"], []
    for name in config["finetune"]["strategies"]:
        start = 0
        for number, phase in enumerate(config["strategies"].get(name, {}).get("phases", []), start=1):
            if start >= epochs:
                problems.append(f"strategies.{name}: phase {number} would start after epoch {start}, but "
                                f"training.epochs is {epochs}: raise training.epochs or shorten the earlier phases")
                break
            start += phase.get("epochs") or epochs
    return problems


def variant_ids(config: dict) -> list[str]:
    """Every fine-tuning variant as 'architecture/strategy/augmentation', in config order."""
    grid = config["finetune"]
    return [f"{a}/{s}/{g}" for a in grid["architectures"] for s in grid["strategies"] for g in grid["augmentations"]]


def finetune_seeds(config: dict) -> list[int]:
    """The seeds each variant is trained with: `finetune.seeds`, else the one `training.seed`."""
    return list(config["finetune"].get("seeds") or [config["training"]["seed"]])


def ensemble_seeds(config: dict) -> list[int]:
    """The seeds of each member's trainings that vote in the ensembles (`ensemble.seeds`): the first, all, or the
    listed ones."""
    choice, seeds = config["ensemble"]["seeds"], finetune_seeds(config)
    if isinstance(choice, list):
        return list(choice)
    return seeds if choice == "all" else seeds[:1]


def trained_seeds(config: dict) -> list[int]:
    """Every seed some training uses: the grid's repeats, then the ensembles' own seeds."""
    seeds = finetune_seeds(config)
    return seeds + [seed for seed in ensemble_seeds(config) if seed not in seeds]


def run_ids(config: dict, seeds: list[int] | None = None) -> list[str]:
    """Every training of the grid as 'architecture/strategy/augmentation/seed{n}' (all seeds, or `seeds`): one job
    and result folder each, so that repeats run in parallel and one repeat reruns alone."""
    return [f"{variant}/seed{seed}" for variant in variant_ids(config) for seed in seeds or finetune_seeds(config)]


def evaluation_folder(training_folder: str, test_time_augmentation: bool) -> str:
    """Where a training's evaluation files are: its own folder, or with test-time augmentation (rule finetune_tta)
    its tta/ subfolder."""
    return f"{training_folder}/tta" if test_time_augmentation else training_folder


def ablation_folders(row: dict, seeds: list[int]) -> list[str]:
    """The result folders of an ablation row (config `ablation`), one per seed (`evaluation_folder`)."""
    return [evaluation_folder(f"results/finetune/{row['variant']}/seed{seed}", row.get("test_time_augmentation", False))
            for seed in seeds]


def batch_size_for(strategy: dict, training: dict) -> int:
    """The batch size a strategy's trainings use: its own `batch_size`, else `training.batch_size`."""
    return strategy.get("batch_size", training["batch_size"])


def ablation_batch_sizes(config: dict) -> list[int]:
    """Each ablation row's batch size (`batch_size_for` its strategy)."""
    return [batch_size_for(config["strategies"][row["variant"].split("/")[1]], config["training"])
            for row in config["ablation"]]


def weights_for(config: dict, arch: str) -> str | None:
    """The configured initial weights of an architecture: its own `weights` entry, else the global one."""
    return config["architectures"][arch].get("weights", config["weights"])


def uses_stand_in_pretraining(config: dict, arch: str) -> bool:
    return weights_for(config, arch) is None and config["random_weights_policy"] == "pretrain"


def prestaged_weights(config: dict, arch: str) -> str | None:
    """The path of the architecture's pre-staged weights file, or None (imagenet or random weights)."""
    weights = weights_for(config, arch)
    return None if weights in (None, "imagenet") else weights


def predict_models(config: dict) -> list[str]:
    """The variants whose probabilities map the scenes (`predict.model`: one, or a list)."""
    return _variants(config["predict"]["model"])


def export_models(config: dict) -> list[str]:
    """The variants to ship (`export.model`: none, one, or a list)."""
    return _variants(config["export"]["model"])


def _variants(setting: str | list[str] | None) -> list[str]:
    return [] if setting is None else [setting] if isinstance(setting, str) else list(setting)


def check_inputs(config: dict) -> None:
    """Raise one ConfigError for data and weights settings the JSON schema cannot check."""
    classes = config["data"]["eurosat"]["classes"]
    problems = [f"data.eurosat.exclude_classes: '{name}' is not in data.eurosat.classes{_closest(name, classes)}"
                for name in config["data"]["eurosat"]["exclude_classes"] if name not in classes]
    settings = {"weights": config["weights"]}
    settings.update({f"architectures.{name}.weights": arch["weights"]
                     for name, arch in config["architectures"].items() if "weights" in arch})
    problems += [f"{key}: '{value}' is text, not null{FROM_COMMAND_LINE}"
                 for key, value in settings.items() if value in NULL_AS_TEXT]
    raise_if_any(problems)


def _closest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f"; did you mean '{close[0]}'?" if close else f" ({', '.join(names)})"


def raise_if_any(problems: list[str]) -> None:
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
