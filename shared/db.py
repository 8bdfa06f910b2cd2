"""Database engines and migrations: SQLite by default, PostgreSQL
(or anything SQLAlchemy speaks) by URL."""

from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.files import private_file

log = logging.getLogger(__name__)

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",  # WAL + NORMAL is durable across process crashes
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)
WAL_BACKSTOP_PAGES = 20_000
"""Where a writer whose checkpoints run elsewhere (``WalCheckpointer``) checkpoints after all,
should they fall behind: 80 MB of log at SQLite's 4 KiB pages (its own default is 1,000 pages)."""


def create_engine(
    url: str, *, writer: bool = True, checkpoints_elsewhere: bool = False, **kwargs: Any
) -> AsyncEngine:
    """An async engine; on SQLite, WAL and (for writers) ``BEGIN IMMEDIATE`` transactions.

    Immediate transactions take SQLite's write lock up front, so two concurrent requests queue
    on ``busy_timeout`` instead of failing when a reader tries to become a writer. Read-only
    engines (report queries) keep deferred transactions and never wait for the writer.
    `checkpoints_elsewhere`: a ``WalCheckpointer`` copies the log back, so this engine's
    connections checkpoint only past WAL_BACKSTOP_PAGES. A SQLite file is created here, owner-only
    (shared/files.py), before SQLite would create it readable by everyone.
    """
    engine = create_async_engine(
        url, hide_parameters=True, **kwargs
    )  # no pupil data in errors or logs
    if engine.dialect.name != "sqlite":
        return engine
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_file(Path(database))
    pragmas = SQLITE_PRAGMAS + (
        (f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}",) if checkpoints_elsewhere else ()
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


class WalCheckpointer:
    """Copies a SQLite write-ahead log back into the database from a connection of its own.

    SQLite checkpoints on the connection that commits, once the log passes 1,000 pages, so a busy
    writer stops every batch or two to copy pages (the cost: docs/benchmarks.md). With the
    writer's engine made ``checkpoints_elsewhere``, ``poke()`` after each commit runs a passive
    checkpoint here instead (it neither waits for nor blocks readers or the writer), in SQLite's
    own code with the interpreter lock released: on a second core, beside the writer. One at a
    time: a poke while one runs is dropped (the next commit's poke copies what it missed). Not
    SQLite: nothing to do.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._running: asyncio.Task[None] | None = None
        self.checkpoints = 0

    def poke(self) -> None:
        if self._engine.dialect.name != "sqlite":
            return
        if self._running is not None and not self._running.done():
            return
        self._running = asyncio.create_task(self._run(), name="wal-checkpoint")

    async def idle(self) -> None:
        """Return once no checkpoint is running (before the engines are disposed of)."""
        if self._running is not None:
            await asyncio.wait([self._running])

    async def _run(self) -> None:
        try:
            async with self._engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            self.checkpoints += 1
        except (OSError, SQLAlchemyError) as exc:  # the writer's own backstop checkpoint still runs
            log.warning("background WAL checkpoint failed: %s", exc)


def session_factory(
    engine: AsyncEngine, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`; `info` is copied into each session's ``info``
    (what its callers share)."""
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


async def database_status(sessions: async_sessionmaker[AsyncSession]) -> str:
    """ "ok", or why the database cannot answer: for readiness probes, which must never raise."""
    try:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # report, don't crash the probe
        return f"unavailable: {exc}"
    return "ok"


async def migrate_when_possible(engine: AsyncEngine, migrations_dir: Path, what: str) -> None:
    """Migrate, retrying with capped backoff while the database is unreachable: a service started
    before its database serves HTTP (not ready) and becomes ready once the database answers."""
    backoff = 0.2
    while True:
        try:
            await migrate(engine, migrations_dir)
            return
        except (OSError, SQLAlchemyError) as exc:
            log.warning(
                "%s: database not available yet (%s); retrying in %.1fs", what, exc, backoff
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)


async def migrate(engine: AsyncEngine, migrations_dir: Path, revision: str = "heads") -> None:
    """Bring a service database to `revision` with its alembic scripts (run at service start).

    ``heads`` applies every branch, so contexts may add reporting migrations side by side.
    """

    def upgrade(connection: Connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(migrations_dir))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with _alembic_lock(), engine.begin() as conn:
        await conn.run_sync(upgrade)


_ALEMBIC_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _alembic_lock() -> asyncio.Lock:
    """Alembic keeps the running migration's context in module globals; two services of one process
    migrating at once (their database calls yield to the loop mid-upgrade) would swap each other's
    context (KeyError: 'config'). One migration at a time per event loop."""
    return _ALEMBIC_LOCKS.setdefault(asyncio.get_running_loop(), asyncio.Lock())
