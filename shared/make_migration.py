"""Developer tool: autogenerate an alembic revision for a service against a scratch SQLite database.

    python -m shared.make_migration partners "add agreements"

The scratch database is brought to the service's head first, so the script holds only what the
models add. A service whose history has more than one head is refused: the new revision would
extend one branch and leave the others dangling.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

SERVICES = Path(__file__).resolve().parent.parent / "services"
USAGE = 'usage: python -m shared.make_migration <service> "what changed"'


def migrations_of(service: str) -> Path:
    """The service's alembic folder; a clear error naming the services that have one."""
    folder = SERVICES / service / "migrations"
    if not service.isidentifier() or not (folder / "env.py").is_file():
        known = ", ".join(
            sorted(p.parent.parent.name for p in SERVICES.glob("*/migrations/env.py"))
        )
        raise SystemExit(f"no migrations for service {service!r} (one of: {known})")
    return folder


def config_for(migrations: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    return cfg


def main(service: str, message: str) -> None:
    migrations = migrations_of(service)
    cfg = config_for(migrations)
    heads = ScriptDirectory.from_config(cfg).get_heads()
    if len(heads) != 1:
        raise SystemExit(
            f"{service} has {len(heads)} migration heads ({', '.join(sorted(heads))}): "
            "merge them first (alembic merge)"
        )
    with create_engine("sqlite://").connect() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
        command.revision(cfg, message=message, autogenerate=True, rev_id=_next_id(migrations))


def _next_id(migrations: Path) -> str:
    existing = sorted(
        p.name[:4] for p in (migrations / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    )
    return f"{int(existing[-1]) + 1:04d}" if existing else "0001"


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[2].strip():
        raise SystemExit(USAGE)
    main(sys.argv[1], sys.argv[2])
