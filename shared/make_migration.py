"""Developer tool: autogenerate an alembic revision for a service against a scratch SQLite database.

    python -m shared.make_migration partners "add agreements"
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine




def main(service: str, message: str) -> None:
    migrations = Path(__file__).resolve().parent.parent / "services" / service / "migrations"
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        cfg = Config()
        cfg.set_main_option("script_location", str(migrations))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
        command.revision(cfg, message=message, autogenerate=True, rev_id=_next_id(migrations))


def _next_id(migrations: Path) -> str:
    existing = sorted(p.name[:4] for p in (migrations / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return f"{int(existing[-1]) + 1:04d}" if existing else "0001"


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
