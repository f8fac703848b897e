"""Software environments agree with requirements.txt; every job rule has conda, log (and benchmark if heavy)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
RULE_FILES = sorted((REPO / "rules").glob("*.smk"))
HEAVY_RULES = {"finetune", "pretrain_base", "extract_features", "train_classical"}
CONDA_UNPINNED = {"python", "pip"}  # the interpreter pin is the environment's, not a package's
# The cluster's GPU build of a package is the same release as the CPU build pinned for laptops and CI.
CPU_BUILD_OF = {"tensorflow": "tensorflow-cpu", "xgboost": "xgboost-cpu"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip().lower())


def requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;]+)", line)
            assert match, f"requirements.txt: not a name==version pin: {line!r}"
            pins[normalise(match[1])] = match[2]
    return pins


def env_pins(env: dict) -> dict[str, str]:
    """Package -> version of every pinned dependency: conda `name=version`, pip `name==version`."""
    pins = {}
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict):
            for spec in dep.get("pip", []):
                match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*==\s*(\S+)", spec)
                if match:
                    pins[normalise(match[1])] = match[2]
        else:
            match = re.fullmatch(r"(?:[\w\-]+::)?([A-Za-z0-9_.\-]+)\s*==?\s*([^\s=]+)", str(dep))
            if match and normalise(match[1]) not in CONDA_UNPINNED:
                pins[normalise(match[1])] = match[2]
    return pins


def test_there_are_env_files():
    assert {path.stem for path in ENV_FILES} >= {"tensorflow", "sklearn", "plotting"}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_parses_and_pins_agree_with_requirements(path):
    env = yaml.safe_load(path.read_text())
    assert isinstance(env, dict) and env.get("dependencies"), f"{path.name}: no dependencies"
    pins = env_pins(env)
    assert pins, f"{path.name}: no pinned packages found"
    required = requirements()
    pins = {CPU_BUILD_OF.get(name, name): version for name, version in pins.items()}
    missing = sorted(name for name in pins if name not in required)
    assert missing == [], f"{path.name}: pinned but absent from requirements.txt"
    differ = {name: (version, required[name]) for name, version in pins.items() if required[name] != version}
    assert differ == {}, f"{path.name}: (env version, requirements.txt version)"


def test_pin_parsing_normalises_names():
    env = {"dependencies": ["python=3.11", "pip", "conda-forge::numpy=2.4.6",
                            {"pip": ["Tensorflow_CPU==2.21.0", "scikit-learn >= 1.0"]}]}
    assert env_pins(env) == {"numpy": "2.4.6", "tensorflow-cpu": "2.21.0"}


def parse_rules(text: str) -> dict[str, set[str]]:
    """Rule name -> directive names (input, output, log, conda, script, ...) of each rule in a .smk file."""
    rules, current = {}, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        header = re.match(r"(?:rule|checkpoint)\s+(\w+)\s*:", line)
        if header:
            current = rules.setdefault(header[1], set())
        elif not line.startswith((" ", "\t")):
            current = None  # top-level Python or another directive ends the rule
        elif current is not None:
            directive = re.match(r"    (\w+)\s*:", line)  # exactly one indentation level: a rule directive
            if directive:
                current.add(directive[1])
    return rules


ALL_RULES = {name: directives for path in RULE_FILES for name, directives in parse_rules(path.read_text()).items()}
JOB_RULES = sorted(name for name, d in ALL_RULES.items() if d & {"script", "shell", "run", "notebook", "wrapper"})


def test_rule_parsing_finds_the_workflow_rules():
    assert HEAVY_RULES <= set(JOB_RULES)
    assert {"make_splits", "ensemble", "leaderboard", "plots"} <= set(JOB_RULES)
    assert "all_finetune" in ALL_RULES and "all_finetune" not in JOB_RULES


@pytest.mark.parametrize("rule", JOB_RULES)
def test_job_rule_has_conda_and_log(rule):
    directives = ALL_RULES[rule]
    assert "conda" in directives, f"rule {rule} has no conda: environment"
    assert "log" in directives, f"rule {rule} has no log:"
    if rule in HEAVY_RULES:
        assert "benchmark" in directives, f"heavy rule {rule} has no benchmark:"


def test_conda_directives_point_at_existing_env_files():
    envs = {path.name for path in ENV_FILES}
    used = {(path.name, env) for path in RULE_FILES
            for env in re.findall(r"conda:\s*\n\s*\"\.\./envs/([^\"]+)\"", path.read_text())}
    assert len(used) >= len(RULE_FILES) - 1, "conda: directives not found; the pattern is broken"
    unknown = sorted((smk, env) for smk, env in used if env not in envs)
    assert unknown == []
