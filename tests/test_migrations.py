"""Every service's alembic history has one head, and the README's way to add a table works for
each: edit the models, run `python -m shared.make_migration <service> "…"`. Services are found
by their migrations/env.py, so a service added later is covered without editing this test. The
command runs against a scratch copy of services/ and shared/, so the checkout is never written."""

from __future__ import annotations

import ast
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from shared.db import create_engine, migrate
from tests.migrated import MigratedTemplates

ROOT = Path(__file__).resolve().parent.parent
SERVICES = sorted(p.parent.parent.name for p in (ROOT / "services").glob("*/migrations/env.py"))
SCRATCH_TABLE = "hl_scratch_added"


def heads(root: Path, service: str) -> list[str]:
    cfg = Config()
    cfg.set_main_option("script_location", str(root / "services" / service / "migrations"))
    return list(ScriptDirectory.from_config(cfg).get_heads())


def scratch_copy(tmp: Path) -> Path:
    for top in ("services", "shared"):
        shutil.copytree(ROOT / top, tmp / top, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    return tmp


def metadata_module(root: Path, service: str) -> Path:
    """The file env.py takes `metadata` from: where the service's tables are declared."""
    env = ast.parse((root / "services" / service / "migrations" / "env.py").read_text())
    module = next(
        n.module
        for n in ast.walk(env)
        if isinstance(n, ast.ImportFrom) and n.module and any(a.name == "metadata" for a in n.names)
    )
    base = root.joinpath(*module.split("."))
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"


def make_migration(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.make_migration", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )


def upgrade_ops(script: Path) -> list[str]:
    body = script.read_text().split("def upgrade()", 1)[1].split("def downgrade()", 1)[0]
    return [line.strip() for line in body.splitlines() if line.strip().startswith("op.")]


def test_services_with_migrations_are_found() -> None:
    assert {"partners", "activities", "funding", "reporting"} <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_have_one_head(service: str) -> None:
    assert len(heads(ROOT, service)) == 1, (
        f"{service}: {heads(ROOT, service)}; merge them (alembic merge)"
    )


@pytest.mark.slow
@pytest.mark.parametrize("service", SERVICES)
def test_make_migration_adds_a_new_table_on_the_one_head(service: str, tmp_path: Path) -> None:
    root = scratch_copy(tmp_path)
    versions = root / "services" / service / "migrations" / "versions"
    (head,) = heads(root, service)
    before = set(versions.glob("*.py"))
    with metadata_module(root, service).open(
        "a"
    ) as models:  # the README's step one: edit the models
        models.write(
            "\nfrom sqlalchemy import Column as _Column, Integer as _Integer, Table as _Table\n"
            f"_Table({SCRATCH_TABLE!r}, metadata, _Column('id', _Integer, primary_key=True))\n"
        )

    done = make_migration(root, service, "add scratch table")
    assert done.returncode == 0, done.stderr[-3000:]
    (script,) = set(versions.glob("*.py")) - before
    assert script.name.endswith("_add_scratch_table.py")
    assert heads(root, service) == [script.name.split("_", 1)[0]]
    assert f"down_revision = {head!r}" in script.read_text()
    # Only the new table: the existing migrations and the models agree.
    assert len(upgrade_ops(script)) == 1 and upgrade_ops(script)[0].startswith(
        f"op.create_table({SCRATCH_TABLE!r}"
    )

    again = make_migration(
        root, service, "nothing more"
    )  # applies the new script, then finds no change
    assert again.returncode == 0, again.stderr[-3000:]
    (empty,) = set(versions.glob("*.py")) - before - {script}
    assert upgrade_ops(empty) == []
    assert not (ROOT / "services" / service / "migrations" / "versions" / script.name).exists()


@pytest.mark.parametrize(
    "args, says",
    [
        (("no_such_service", "x"), "no migrations for service 'no_such_service' (one of: "),
        (("../shared", "x"), "no migrations for service '../shared'"),
        (("partners",), "usage: python -m shared.make_migration <service>"),
        (("partners", " "), "usage: python -m shared.make_migration <service>"),
    ],
)
def test_make_migration_refuses_bad_arguments_in_one_line(args: tuple[str, ...], says: str) -> None:
    before = sorted((ROOT / "services").glob("*/migrations/versions/*.py"))
    done = make_migration(ROOT, *args)
    assert (
        done.returncode != 0
        and done.stderr.strip().startswith(says)
        and len(done.stderr.strip().splitlines()) == 1
    )
    assert sorted((ROOT / "services").glob("*/migrations/versions/*.py")) == before


def test_make_migration_refuses_a_history_with_two_heads(tmp_path: Path) -> None:
    root = scratch_copy(tmp_path)
    versions = root / "services" / "funding" / "migrations" / "versions"
    (head,) = heads(root, "funding")
    first = next(versions.glob("0001_*.py")).read_text()
    (versions / "0099_side_branch.py").write_text(
        first.replace('revision = "0001"', 'revision = "0099"').replace(
            "down_revision = None", 'down_revision = "0001"'
        )
    )
    assert len(heads(root, "funding")) == 2
    before = set(versions.glob("*.py"))

    done = make_migration(root, "funding", "more")
    assert done.returncode != 0
    assert done.stderr.strip() == (
        f"funding has 2 migration heads ({', '.join(sorted([head, '0099']))}): "
        "merge them first (alembic merge)"
    )
    assert set(versions.glob("*.py")) == before


def sqlite_contents(path: Path) -> tuple[list[tuple[str, str, str]], dict[str, list[tuple]]]:
    """Every schema object's SQL and every table's rows, in a stable order."""
    with closing(sqlite3.connect(path)) as db:
        schema = db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
        ).fetchall()
        tables = [name for kind, name, _ in schema if kind == "table"]
        rows = {t: sorted(db.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    return schema, rows


@pytest.mark.parametrize("service", SERVICES)
async def test_a_database_started_from_the_template_is_one_migrated_from_nothing(
    service: str, tmp_path: Path, migrated_templates: MigratedTemplates
) -> None:
    """tests/migrated.py's copy gives a fresh service database the very schema and seed rows its
    migrations write, and the migrations run on the copy find nothing left to do."""
    migrations = ROOT / "services" / service / "migrations"
    made = {}
    for way, run in (("scripts", migrate), ("template", migrated_templates.migrate)):
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / way}.db")
        copies = migrated_templates.copies
        await run(engine, migrations, "heads")
        await engine.dispose()
        assert migrated_templates.copies == copies + (way == "template")
        made[way] = sqlite_contents(tmp_path / f"{way}.db")
    assert made["template"] == made["scripts"]
    assert made["scripts"][1]["alembic_version"]
