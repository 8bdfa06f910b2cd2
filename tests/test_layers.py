"""The code keeps its one-way layers (docs/architecture.md, "Layers").

The contracts live in pyproject.toml (`[tool.importlinter]`): reporting's layers, services that
never import each other, `shared` that imports no service. A module-level check adds what the
contracts see only per package: no two modules of reporting or `hub/` import each other, however
indirectly, including a package and its own modules.
"""

from __future__ import annotations

import graphlib
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("services.reporting", "hub")
LEAVING = {"hub.sample"}
"""Sample-data harness on its way out of the runtime (issue #23, "Harness out of the runtime"), its
modules annotated with their package's class: checked again once it has its own package."""


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout and "kept" in run.stdout


def test_the_contracts_cover_every_module_of_reporting() -> None:
    """A new top-level module or folder of reporting must be given a layer
    (the contract is exhaustive)."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    layered = next(
        c for c in contracts if c["type"] == "layers" and c["containers"] == ["services.reporting"]
    )
    assert layered["exhaustive"] is True
    named = {
        part.strip() for layer in layered["layers"] for part in layer.replace(":", "|").split("|")
    }
    children = {
        m.rsplit(".", 1)[1]
        for m in grimp.build_graph("services").find_children("services.reporting")
    }
    assert children - {"migrations"} == named


def cycle(modules: set[str], imports: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among `modules`, or None."""
    graph = {m: imports[m] & modules for m in modules}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def test_no_module_of_reporting_or_hub_is_in_an_import_cycle() -> None:
    graph = grimp.build_graph("services", "shared", "hub")
    for package in CHECKED:
        modules = {
            m
            for m in {package} | graph.find_descendants(package)
            if not any(m == gone or m.startswith(gone + ".") for gone in LEAVING)
        }
        imports = {m: graph.find_modules_directly_imported_by(m) for m in modules}
        assert cycle(modules, imports) is None, (
            f"import cycle in {package}: {' -> '.join(cycle(modules, imports) or [])}"
        )


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check above would see a package importing its own module that imports it back."""
    imports = {"p": {"p.a"}, "p.a": {"p"}, "p.b": {"p.a"}}
    assert cycle(set(imports), imports) in (["p", "p.a", "p"], ["p.a", "p", "p.a"])
    assert cycle({"p.a", "p.b"}, imports) is None
