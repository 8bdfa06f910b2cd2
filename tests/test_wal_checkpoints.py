"""Background WAL checkpoints: the reporting writer leaves copying the log back to a connection of
its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.app import build_service
from shared.db import WalCheckpointer, create_engine
from shared.settings import HubSettings
from tests.test_reporting_ingest import incoming, org_event

ROWS = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
    "INSERT INTO t SELECT hex(randomblob(1000)) FROM n"
)
"""About 4 MB a statement: past SQLite's own checkpoint threshold (1,000 pages of 4 KiB) in two."""


async def _write_6_mb(writer: AsyncEngine) -> None:
    async with writer.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
    for _ in range(3):
        async with writer.begin() as conn:
            await conn.exec_driver_sql(ROWS)


@asynccontextmanager
async def _written_with_checkpointer(db: Path) -> AsyncIterator[WalCheckpointer]:
    """6 MB committed by a writer that checkpoints elsewhere;
    a checkpointer on a reader of the same file."""
    writer = create_engine(f"sqlite+aiosqlite:///{db}", checkpoints_elsewhere=True)
    reader = create_engine(f"sqlite+aiosqlite:///{db}", writer=False)
    try:
        await _write_6_mb(writer)
        yield WalCheckpointer(reader)
    finally:
        await writer.dispose()
        await reader.dispose()


async def test_the_writer_leaves_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    async with _written_with_checkpointer(db) as checkpointer:
        assert (
            db.stat().st_size < 100_000
        )  # all of it still in the log: the writer did not stop to copy
        checkpointer.poke()
        await checkpointer.idle()
        assert checkpointer.checkpoints == 1
        assert db.stat().st_size > 6_000_000


async def test_a_writer_of_its_own_checkpoints_as_it_commits(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    writer = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await _write_6_mb(writer)
        assert db.stat().st_size > 4_000_000
    finally:
        await writer.dispose()


async def test_one_checkpoint_at_a_time(tmp_path: Path) -> None:
    async with _written_with_checkpointer(tmp_path / "p.db") as checkpointer:
        checkpointer.poke()
        checkpointer.poke()  # while the first runs: dropped, not a second at once
        await checkpointer.idle()
        assert checkpointer.checkpoints == 1
        checkpointer.poke()
        await checkpointer.idle()
        assert checkpointer.checkpoints == 2


async def test_other_databases_need_no_checkpointer() -> None:
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")  # never connected
    checkpointer = WalCheckpointer(engine)
    checkpointer.poke()
    await checkpointer.idle()
    assert checkpointer.checkpoints == 0
    await engine.dispose()


async def test_the_reporting_service_checkpoints_after_applying(tmp_path: Path) -> None:
    hub = "cp"
    reporting = build_service(
        HubSettings(hub=hub, data_dir=tmp_path, nodes=["coventry"]), "nats://127.0.0.1:1"
    )
    await reporting.start(consume=False)
    try:
        await reporting.ingest([incoming(hub, org_event(hub, sequence=1), 1)])
        await reporting.checkpointer.idle()
        assert reporting.checkpointer.checkpoints == 1
        await reporting.ingest([incoming(hub, org_event(hub, sequence=2), 2)])
        await reporting.checkpointer.idle()
        assert reporting.checkpointer.checkpoints == 2
    finally:
        await reporting.stop()
