"""The library's house rules: layers without upward imports or cycles (import-linter, as `make lint` runs it), and
short modules that say in their first line what they hold."""

from __future__ import annotations

import ast
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "landcover_transfer"
MODULES = sorted(PACKAGE.rglob("*.py"))
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(src: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT_IMPORTS, "--no-cache", "--config", REPO / "pyproject.toml"], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(src)}, capture_output=True, text=True)


@pytest.fixture
def library_copy(tmp_path) -> Path:
    shutil.copytree(PACKAGE, tmp_path / "src" / "landcover_transfer")
    return tmp_path / "src"


def test_the_library_keeps_its_contracts():
    checked = lint_imports(REPO / "src")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "2 kept, 0 broken" in checked.stdout


@pytest.mark.parametrize(("module", "imported", "message"), [
    # an upward import inside a function: fine-tuning must not depend on robustness
    ("finetune/models.py", "landcover_transfer.robustness import evaluation",
     "landcover_transfer.finetune.models -> landcover_transfer.robustness.evaluation"),
    # a cycle inside a stage: training imports callbacks
    ("finetune/callbacks.py", "landcover_transfer.finetune import training", "No cycles are allowed"),
])
def test_an_upward_import_or_a_cycle_breaks_a_contract(library_copy, module, imported, message):
    path = library_copy / "landcover_transfer" / module
    path.write_text(path.read_text() + f"\n\ndef _added():\n    from {imported}  # noqa: F401\n")
    checked = lint_imports(library_copy)
    assert checked.returncode == 1, checked.stdout
    assert message in checked.stdout


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_is_short_and_opens_with_what_it_holds(path):
    assert len(path.read_text().splitlines()) <= 400
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring and docstring.splitlines()[0].strip(), f"{path.name}: no docstring line saying what it holds"


WORKFLOW_FILES = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
LIBRARY_IMPORT = re.compile(r"^\s*from (landcover_transfer[\w.]*) import (?:\(([^)]*)\)|([^\n#]*))", re.M)


def test_every_library_name_the_workflow_files_import_exists():
    """The Snakefile's imports, `onstart`'s included (a dry run never reaches it), name what the library holds."""
    imported = [(path.name, module, name.strip()) for path in WORKFLOW_FILES
                for module, listed, inline in LIBRARY_IMPORT.findall(path.read_text())
                for name in (listed or inline).split(",") if name.strip()]
    assert len(imported) > 10
    missing = [(file, f"{module}.{name}") for file, module, name in imported
               if not hasattr(importlib.import_module(module), name)]
    assert missing == []
