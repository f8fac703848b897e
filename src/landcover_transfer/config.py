"""Checks the JSON schema cannot express: names that must refer to other config entries."""

from __future__ import annotations

from .errors import ConfigError

#: The pseudo-layer of an augmentation policy that turns on adversarial training (see robustness.py).
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
    required = {"hold_then_decay": ("hold_epochs", "factor"), "step": ("every", "factor")}
    for name, schedule in config["schedules"].items():
        missing = [key for key in required.get(schedule["type"], ()) if key not in schedule]
        if missing:
            problems.append(f"schedules.{name}: type {schedule['type']} needs {', '.join(missing)}")
    members = config["ensemble"]["members"]
    if isinstance(members, list):
        variants = set(variant_ids(config))
        problems += [f"ensemble.members: '{m}' is not in the fine-tuning grid" for m in members if m not in variants]
    unknown_classical = [m for m in config["ensemble"]["include_classical"] if m not in config["classical"]["models"]]
    problems += [f"ensemble.include_classical: unknown classical model '{m}'" for m in unknown_classical]
    robustness = config["robustness"]
    problems += [f"robustness.{key}: {robustness[key]} is not in robustness.eps {robustness['eps']}"
                 for key in ("headline_eps", "transfer_eps") if robustness[key] not in robustness["eps"]]
    if robustness["transfer_attack"] not in robustness["attacks"]:
        problems.append(f"robustness.transfer_attack: '{robustness['transfer_attack']}' is not in robustness.attacks")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def variant_ids(config: dict) -> list[str]:
    """Every fine-tuning variant as 'architecture/strategy/augmentation', in config order."""
    grid = config["finetune"]
    return [f"{a}/{s}/{g}" for a in grid["architectures"] for s in grid["strategies"] for g in grid["augmentations"]]


def weights_for(config: dict, arch: str) -> str | None:
    """The configured initial weights of an architecture: its own `weights` entry, else the global one."""
    return config["architectures"][arch].get("weights", config["weights"])


def uses_stand_in_pretraining(config: dict, arch: str) -> bool:
    return weights_for(config, arch) is None and config["random_weights_policy"] == "pretrain"
