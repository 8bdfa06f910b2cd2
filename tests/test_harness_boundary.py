"""The harness (bench, reliability drills, sample hub, screenshot and asset tooling) stays out of
the runtime: no module under services/ or shared/ imports it, and hub/ (the launcher) imports it
only inside the commands that need it. Modules are found by walking the tree, so one added later
is held to the same rule without editing this test."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ("services", "shared")
LAUNCHER = "hub"


def harness_imports(source: str, *, top_level_only: bool = False) -> Iterator[tuple[int, str]]:
    """(line, module) of every import of `harness` in `source`; with `top_level_only`, only those
    run when the module is imported (not those inside a function)."""
    for node in _walk(ast.parse(source), skip_functions=top_level_only):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        yield from (
            (node.lineno, name)
            for name in names
            if name == "harness" or name.startswith("harness.")
        )


def _walk(node: ast.AST, *, skip_functions: bool) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if skip_functions and isinstance(
            child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
        ):
            continue
        yield child
        yield from _walk(child, skip_functions=skip_functions)


def python_files(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def test_the_scan_sees_every_form_of_import() -> None:
    source = (
        "import harness\nimport os, harness.bench\nfrom harness.sample import load_sample\n"
        "def later():\n    from harness.screenshots import take_screenshots\n"
    )
    assert [m for _, m in harness_imports(source)] == [
        "harness",
        "harness.bench",
        "harness.sample",
        "harness.screenshots",
    ]
    assert [m for _, m in harness_imports(source, top_level_only=True)] == [
        "harness",
        "harness.bench",
        "harness.sample",
    ]
    assert not list(harness_imports("from .harness import x\nimport harnessing\n"))


def test_no_runtime_module_imports_the_harness() -> None:
    files = [p for folder in RUNTIME for p in python_files(folder)]
    assert len(files) > 50  # the walk found the services, not an empty folder
    found = [
        f"{p.relative_to(ROOT)}:{line} imports {name}"
        for p in files
        for line, name in harness_imports(p.read_text())
    ]
    assert not found, "\n".join(found)


def test_the_launcher_imports_the_harness_only_inside_commands() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{line} imports {name} at module level"
        for p in python_files(LAUNCHER)
        for line, name in harness_imports(p.read_text(), top_level_only=True)
    ]
    assert not found, "\n".join(found)


def test_importing_every_runtime_and_launcher_module_loads_no_harness() -> None:
    """What the static scan cannot see (an import_module, a re-export): import every module under
    services/, shared/ and hub/ in a fresh interpreter and look at what got loaded."""
    script = """
import importlib, pkgutil, sys
for top in ("services", "shared", "hub"):
    package = importlib.import_module(top)
    for info in pkgutil.walk_packages(package.__path__, top + "."):
        importlib.import_module(info.name)
print("\\n".join(sorted(m for m in sys.modules if m == "harness" or m.startswith("harness."))))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "", f"loaded by the runtime: {done.stdout}"
