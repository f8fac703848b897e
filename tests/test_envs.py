"""Software environments agree with requirements.txt and hold what their rules import; every job rule has conda,
log (and benchmark if heavy)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from script_imports import imported_names

REPO = Path(__file__).resolve().parents[1]

ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
RULE_FILES = sorted((REPO / "rules").glob("*.smk"))
HEAVY_RULES = {"finetune", "pretrain_base", "extract_features", "train_classical"}
CONDA_UNPINNED = {"python", "pip"}  # the interpreter pin is the environment's, not a package's
# The cluster's GPU build of a package is the same release as the CPU build pinned for laptops and CI.
CPU_BUILD_OF = {"tensorflow": "tensorflow-cpu", "xgboost": "xgboost-cpu"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip().lower())


def requirements(lock: str = "requirements.txt") -> dict[str, str]:
    pins = {}
    for line in (REPO / lock).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;]+)", line)
            assert match, f"{lock}: not a name==version pin: {line!r}"
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


# ---------------------------------------------------------------- every rule's script imports in its environment
# Under `--sdm conda` (the SLURM profile) each rule runs in its envs/*.yaml. A venv per env file with exactly its
# pip part (tensorflow-cpu standing in for tensorflow[and-cuda], whose CUDA wheels are gigabytes) runs
# tests/script_imports.py over the scripts of the rules that use it: every import, also those inside functions,
# followed through the library. Built once per content of the env file under .env-check/.
ENV_CHECK = REPO / ".env-check"
GPU_EXTRA_STAND_INS = {"tensorflow[and-cuda]": "tensorflow-cpu"}


def rule_envs_and_scripts(text: str) -> dict[str, tuple[str, str]]:
    """Rule name -> (env file name, script path relative to the repository) of each rule with both."""
    found = {}
    for block in re.split(r"^(?=rule |checkpoint )", text, flags=re.M):
        name = re.match(r"(?:rule|checkpoint)\s+(\w+)\s*:", block)
        env = re.search(r"^    conda:\s*\n\s*\"\.\./envs/([^\"]+)\"", block, flags=re.M)
        script = re.search(r"^    script:\s*\n\s*\"\.\./(scripts/[^\"]+)\"", block, flags=re.M)
        if name and env and script:
            found[name[1]] = (env[1], script[1])
    return found


RULE_ENVS = {name: pair for path in RULE_FILES for name, pair in rule_envs_and_scripts(path.read_text()).items()}


def pip_requirements(env: dict) -> list[str]:
    specs = [spec for dep in env["dependencies"] if isinstance(dep, dict) for spec in dep.get("pip", [])]
    for extra, stand_in in GPU_EXTRA_STAND_INS.items():
        specs = [spec.replace(extra, stand_in) for spec in specs]
    return specs


def env_venv(path: Path) -> Path:
    """A venv with the pip part of env file `path`, built once for its content."""
    specs = pip_requirements(yaml.safe_load(path.read_text()))
    venv = ENV_CHECK / f"{path.stem}-{hashlib.sha256(' '.join(specs).encode()).hexdigest()[:12]}"
    if not (venv / "complete").exists():
        building = venv.with_name(venv.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        # uv (requirements-dev.txt), not pip: it links the wheels from its cache instead of unpacking them, 1 s
        # instead of pip's 50 s for the TensorFlow env. No bytecode: the check imports a small part of it.
        uv = [sys.executable, "-m", "uv", "--quiet"]
        subprocess.run([*uv, "venv", "--python", sys.executable, building], check=True)
        subprocess.run([*uv, "pip", "install", "--python", building / "bin" / "python", *specs], check=True,
                       capture_output=True)
        (building / "complete").touch()
        shutil.rmtree(venv, ignore_errors=True)
        building.rename(venv)  # a venv's scripts name its path: used through bin/python alone, which still runs
    return venv


def test_every_script_rule_is_found_with_its_env():
    scripted = {name for name in JOB_RULES if "script" in ALL_RULES[name]}
    assert scripted and set(RULE_ENVS) == scripted


@pytest.mark.slow
@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_every_rule_script_imports_in_its_env(path):
    scripts = sorted({script for env, script in RULE_ENVS.values() if env == path.name})
    assert scripts, f"no rule uses {path.name}"
    venv = env_venv(path)
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    checked = subprocess.run([venv / "bin" / "python", REPO / "tests" / "script_imports.py", REPO / "src", *scripts],
                             cwd=REPO, env=environment, capture_output=True, text=True)
    assert checked.returncode == 0, f"{path.name} lacks what its rules import:\n{checked.stdout}{checked.stderr}"


def test_the_import_check_follows_imports_inside_functions(tmp_path):
    """The checker finds a package missing from an env when only a function of a library module imports it, and
    leaves out imports made for type annotations only."""
    package = tmp_path / "src" / "lib"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "light.py").write_text("from typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    import annotation_only\n\n"
                                      "def curve():\n    from .heavy import fit\n")
    (package / "heavy.py").write_text("def fit():\n    import package_absent_here\n")
    script = tmp_path / "plot.py"
    script.write_text("from lib.light import curve\n")
    checked = subprocess.run([sys.executable, REPO / "tests" / "script_imports.py", tmp_path / "src", script],
                             capture_output=True, text=True)
    assert checked.returncode == 1
    chain = "plot.py -> lib.light -> lib.heavy -> package_absent_here"
    missing = "ModuleNotFoundError: No module named 'package_absent_here'"
    assert checked.stdout.splitlines() == [f"{script}: {chain}: {missing}"]


# ---------------------------------------------------------------- the project's declared dependencies
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# Import name -> distribution, where they differ.
DISTRIBUTION_OF = {"PIL": "pillow", "art": "adversarial-robustness-toolbox", "sklearn": "scikit-learn",
                   "yaml": "pyyaml", "xgboost": "xgboost-cpu"}


def declared(specs: list[str]) -> dict[str, Requirement]:
    return {normalise(requirement.name): requirement for requirement in map(Requirement, specs)}


def test_the_locks_satisfy_every_declared_dependency():
    for lock, specs in (("requirements.txt", PYPROJECT["dependencies"]),
                        ("requirements-dev.txt", PYPROJECT["optional-dependencies"]["dev"])):
        pins = requirements(lock)
        for name, requirement in declared(specs).items():
            locked = pins[CPU_BUILD_OF.get(name, name)]
            assert requirement.specifier.contains(locked), f"{name}: {lock} pins {locked}, not {requirement}"


def test_the_two_locks_share_no_package():
    assert set(requirements()) & set(requirements("requirements-dev.txt")) == set()


def test_every_package_the_library_imports_is_declared():
    src = REPO / "src"
    imported = {name.split(".")[0] for path in src.rglob("*.py")
                for name in imported_names(path, ".".join(path.relative_to(src).parent.parts))}
    third_party = imported - set(sys.stdlib_module_names) - {"__future__", "landcover_transfer"}
    assert {"tensorflow", "snakemake", "yaml"} <= third_party  # the scan sees the library
    undeclared = {name for name in third_party
                  if normalise(DISTRIBUTION_OF.get(name, name)) not in declared(PYPROJECT["dependencies"])}
    assert undeclared == set()


@pytest.mark.slow
def test_pip_installs_the_project_with_a_consistent_set_of_dependencies(tmp_path):
    """`pip install .` into a clean venv, as a dry run: pip builds the project and finds versions for every
    declared dependency (from a copy: a build in the working tree would leave build/ behind)."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, project / name)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", tmp_path / "venv"], check=True)
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "--python", tmp_path / "venv" / "bin" / "python", "install",
                    "--dry-run", "--quiet", "--report", report, project], check=True, capture_output=True)
    chosen = {normalise(item["metadata"]["name"]): item["metadata"]["version"]
              for item in json.loads(report.read_text())["install"]}
    assert {"landcover-transfer", "snakemake", "tensorflow", "keras", "xgboost-cpu"} <= set(chosen)
    assert chosen["tensorflow"] == requirements()["tensorflow-cpu"]  # the release of the lock's CPU build
