"""Each service's schema migrated once per test run: a fresh SQLite database starts as a copy of
one its real Alembic scripts built, and those scripts then run on it and find it at their head.

Running every migration again for each of a test's six or seven databases is most of what a test
on a fresh system spends before it starts. The copy is the same file the migrations write (their
seed rows included); tests of the migrations themselves call `shared.db.migrate` directly and
migrate from nothing."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine

Migrate = Callable[[AsyncEngine, Path, str], Awaitable[None]]
SERVICES = Path(__file__).resolve().parent.parent / "services"


class MigratedTemplates:
    """One migrated SQLite file per service's migrations folder, made by `migrate` (the real one)
    in a thread of its own, so any event loop of the run may use them."""

    def __init__(self, folder: Path, migrate: Migrate) -> None:
        """`migrate`: the real `shared.db.migrate` (it runs once per service here, and again on
        every copy)."""
        self._migrate = migrate
        self._files: dict[Path, Path] = {}
        self.copies = 0
        errors: list[BaseException] = []
        thread = threading.Thread(target=self._make_all, args=(folder, errors))
        thread.start()
        thread.join()
        if errors:
            raise errors[0]

    def _make_all(self, folder: Path, errors: list[BaseException]) -> None:
        try:
            asyncio.run(self._make(folder))
        except BaseException as exc:  # raised again in the caller's thread
            errors.append(exc)

    async def _make(self, folder: Path) -> None:
        for env in sorted(SERVICES.glob("*/migrations/env.py")):
            migrations = env.parent
            path = folder / f"{migrations.parent.name}.db"
            engine = create_engine(f"sqlite+aiosqlite:///{path}")
            await self._migrate(engine, migrations, "heads")
            await engine.dispose()  # the last connection folds the log into the file
            self._files[migrations.resolve()] = path

    async def migrate(
        self, engine: AsyncEngine, migrations_dir: Path, revision: str = "heads"
    ) -> None:
        """`shared.db.migrate`, starting a fresh SQLite file from its service's template."""
        target = _fresh_sqlite_file(engine)
        template = self._files.get(Path(migrations_dir).resolve())
        if target is not None and template is not None and revision == "heads":
            await engine.dispose()
            shutil.copyfile(template, target)  # keeps the target's owner-only mode
            self.copies += 1
        await self._migrate(engine, migrations_dir, revision)


def _fresh_sqlite_file(engine: AsyncEngine) -> Path | None:
    """The engine's SQLite file when nothing was ever written to it (no log, no shared memory:
    no connection has used it), else None."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    untouched = not any(Path(f"{path}{s}").exists() for s in ("-wal", "-shm", "-journal"))
    return path if untouched and path.is_file() and path.stat().st_size == 0 else None
