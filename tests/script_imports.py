"""Import, in the running interpreter, everything a rule's script can import: run with an environment's Python.

    python tests/script_imports.py SRC SCRIPT [SCRIPT ...]

Follows every import statement, at module level or inside a function, from each script through the library
modules under SRC, then imports each library module reached and each other top-level package named. Prints one
line per failure (script, the chain of library modules, the error) and exits 1 if any. Standard library only: it
runs in environments that have nothing else.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path


def imported_names(path: Path, package: str | None) -> set[str]:
    """Absolute names of the modules that `path` imports anywhere in its code (relative imports resolved)."""
    names = set()
    for node in walk_run_time(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def walk_run_time(tree: ast.AST):
    """The nodes of `tree` that can run: blocks under `if TYPE_CHECKING:` (annotations only) are left out."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def library_file(name: str, src: Path) -> tuple[Path, str] | None:
    """The source file of library module `name` under `src`, and the package its relative imports start from."""
    path = src.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py", name
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py"), name.rpartition(".")[0]
    return None


def reached(script: Path, src: Path) -> dict[str, list[str]]:
    """Every module `script` can import, library modules and other packages' top-level names, each with the chain
    of library modules that leads there."""
    chains, others, todo = {}, {}, [(script, None, [script.name])]
    while todo:
        path, package, chain = todo.pop()
        for name in sorted(imported_names(path, package)):
            top = name.split(".")[0]
            if library_file(top, src) is None:
                others.setdefault(top, [*chain, top])
                continue
            parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
            for module in [*parents, name]:
                if module not in chains and library_file(module, src):
                    chains[module] = [*chain, module]
                    todo.append((*library_file(module, src), chains[module]))
    standard = set(sys.stdlib_module_names) | {"__future__"}
    return {**chains, **{name: chain for name, chain in others.items() if name not in standard}}


def failures(script: Path, src: Path) -> list[str]:
    problems = []
    for name, chain in sorted(reached(script, src).items()):
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - any import-time failure is the finding
            problems.append(f"{script}: {' -> '.join(chain)}: {type(error).__name__}: {error}")
    return problems


def main(argv: list[str]) -> int:
    src = Path(argv[0]).resolve()
    sys.path.insert(0, str(src))
    problems = [line for script in argv[1:] for line in failures(Path(script), src)]
    print("\n".join(problems) or "all imports found")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
