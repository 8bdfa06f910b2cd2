"""Rebuild the projections by replaying the hub stream from its first message.

Projections are derived data: an empty reporting database fed the stream in order ends with the
same figures, the same stamp and the same hash-chain head as one that consumed it live. The
replay reads with an ephemeral, unacknowledged consumer in large batches (an operator task, run
with stream-admin rights while the live consumer is stopped); messages that were dead-lettered
live are refused again and counted, not re-published.

It is a bulk load, and written as one (docs/benchmarks.md has the figures): large batches, the
next fetched while the one after it is prepared in worker processes
(services/reporting/ingest/preparing.py) and the one before written, SQLite inserts of many rows per
statement (so the write does not wait on the fetch for the interpreter lock row by row), indexes
only reports read built once at the end instead of row by row, no automatic collections but a sweep
every few batches, and commits without the flush to disk and the write-ahead log that only a live
consumer needs (a replay cut short is discarded and run again: `hub rebuild` swaps its database in
only when complete); the end is flushed before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.ingest.apply import Incoming, IngestOutcome, PreparedBatch
from services.reporting.ingest.bulk import bulk_settings, many_rows_per_statement
from services.reporting.ingest.consumer import ReportingService
from services.reporting.ingest.handlers import stream_sequence
from services.reporting.ingest.lanes import Staged
from services.reporting.ingest.preparing import ParallelPreparer, default_workers
from services.reporting.models import metadata
from services.reporting.models.base import DEFERRED
from shared.compat import fast_header_parsing, quick_next_msg
from shared.memory import collections_swept_every
from shared.subjects import PREFIX, hub_stream

SQLITE_FILES = ("", "-wal", "-shm")


@contextlib.contextmanager
def replacing_sqlite_database(database: Path) -> Iterator[Path]:
    """Yield the path to build a new database at; once the block completes, the current database is
    moved aside (``<name>.before-rebuild-<time>``) and the new one takes its place.

    Until then the current database stays where it is, whole: reporting started on a half-rebuilt
    one would carry on from its durable consumer's position and never apply the rest. A block that
    fails removes what it built; one killed outright leaves it to be removed by the next rebuild.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    building = database.with_name(f"{database.name}.rebuilding")
    _remove_sqlite(building)
    try:
        yield building
    except BaseException:
        _remove_sqlite(building)
        raise
    if database.exists():
        kept = database.with_name(
            f"{database.name}.before-rebuild-{time.strftime('%Y%m%dT%H%M%S')}"
        )
        for suffix in (
            "-wal",
            "-shm",
        ):  # none after a clean stop; they belong with the old database
            if (file := Path(f"{database}{suffix}")).exists():
                file.rename(f"{kept}{suffix}")
        os.link(database, kept)
    building.replace(
        database
    )  # in one step: at no moment is there no database to start reporting on
    _remove_sqlite(building)


def _remove_sqlite(path: Path) -> None:
    for suffix in SQLITE_FILES:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@dataclass
class RebuildResult:
    messages: int = 0
    applied: int = 0
    duplicates: int = 0
    refused: int = 0
    last_stream_seq: int = 0


async def rebuild(
    service: ReportingService,
    nc: Client,
    *,
    batch_size: int = 10_000,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> RebuildResult:
    """Replay the hub stream up to its current last message into `service`'s (empty) database.

    Each batch is prepared while the one before it is written: by default, with a core to spare,
    in two lanes taking alternate batches; with `workers`, in that many processes (0: in this one)
    and written here. `progress(done, total)` is called after each batch.
    """
    fast_header_parsing()
    quick_next_msg()
    async with bulk_load(service.engine):
        with _stages(service, workers) as (prepare, write), collections_swept_every() as batch_done:
            result = await _replay(service, nc, batch_size, prepare, write, batch_done, progress)
        # the deferred indexes are built next: figures are worth computing after
        service.warmer.hold()
    service.warmer.poke()
    return result


Prepare = Callable[[list[Incoming]], Coroutine[Any, Any, PreparedBatch | Staged]]
Write = Callable[[Any], Coroutine[Any, Any, IngestOutcome]]


@contextlib.contextmanager
def _stages(service: ReportingService, workers: int | None) -> Iterator[tuple[Prepare, Write]]:
    """How each batch is prepared and written: by default, where a core is spare, by two lanes
    taking alternate batches (the live consumer's, services/reporting/ingest/lanes.py, with the
    bulk settings); else, or as `workers` says, prepared in that many processes (0: here) and
    written here."""
    if workers is None and default_workers() > 0 and service.own.ingest_lanes:
        lanes = service.new_lanes(bulk=True)
        try:
            yield lanes.prepare, lanes.write
        finally:
            lanes.close()
        return
    with _preparer(service, default_workers() if workers is None else workers) as prepare:
        yield prepare, service.apply


@contextlib.contextmanager
def _preparer(
    service: ReportingService, workers: int
) -> Iterator[Callable[[list[Incoming]], Coroutine[Any, Any, PreparedBatch]]]:
    if workers == 0:

        async def here(batch: list[Incoming]) -> PreparedBatch:
            return service.prepare(batch)

        yield here
        return
    with ParallelPreparer(service.settings.hub, service.keys, workers) as preparer:
        yield preparer.prepare


async def _replay(
    service: ReportingService,
    nc: Client,
    batch_size: int,
    prepare: Prepare,
    write_batch: Write,
    batch_done: Callable[[], None],
    progress: Callable[[int, int], None] | None,
) -> RebuildResult:
    js = nc.jetstream()
    hub = service.settings.hub
    stream = hub_stream(hub)
    info = await js.stream_info(stream)
    last, total = info.state.last_seq, info.state.messages
    result = RebuildResult()
    if total == 0:
        return result
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        inactive_threshold=120,
        max_waiting=1,
    )
    sub = await js.pull_subscribe(f"{PREFIX}.{hub}.>", durable=None, stream=stream, config=config)

    async def write(prepared: PreparedBatch | Staged) -> None:
        outcome = await write_batch(prepared)
        result.messages += len(prepared.batch)
        result.applied += outcome.applied
        result.duplicates += outcome.duplicates
        result.refused += len(outcome.dead)
        result.last_stream_seq = max(m.stream_seq for m in prepared.batch)
        batch_done()
        if progress:
            progress(result.messages, total)

    # three stages at once: batch n+2 arrives, n+1 is prepared (in workers), n is written
    fetching = asyncio.create_task(_fetch(sub, batch_size))
    preparing: asyncio.Task[PreparedBatch | Staged] | None = None
    fetched = 0
    try:
        while fetched < last:
            msgs = await fetching
            fetching = asyncio.create_task(_fetch(sub, batch_size))
            batch = [
                m
                for m in (Incoming(m.subject, m.data, stream_sequence(m), m.headers) for m in msgs)
                if m.stream_seq <= last
            ]
            if not batch:
                if msgs:
                    break
                continue
            fetched = batch[-1].stream_seq
            ready, preparing = preparing, asyncio.create_task(prepare(batch))
            if ready:
                await write(await ready)
        if preparing:
            ready, preparing = preparing, None
            await write(await ready)
    finally:
        for task in (fetching, preparing):
            if task:
                task.cancel()
                with contextlib.suppress(
                    asyncio.CancelledError, Exception
                ):  # the replay's own error goes on
                    await task
        await sub.unsubscribe()
    return result


async def _fetch(sub: JetStreamContext.PullSubscription, batch_size: int) -> list[Msg]:
    """A batch, or nothing if none came within the wait."""
    try:
        return await sub.fetch(batch_size, timeout=2)
    except (
        nats.errors.TimeoutError,
        TimeoutError,
    ):  # nats-py raises either, depending on where it waited
        return []


@contextlib.asynccontextmanager
async def bulk_load(engine: AsyncEngine) -> AsyncIterator[None]:
    """While the block runs: no flush to disk per commit, on SQLite a larger page cache, the journal
    in memory and inserts of many rows per statement, and the indexes declared DEFERRED
    (services/reporting/models/base.py) dropped; on leaving, they are built again from their own
    definitions (still with the bulk settings), the database is back in WAL mode and everything is
    flushed."""
    deferred = await _drop_deferred_indexes(engine)
    _bulk_settings = bulk_settings(engine.dialect.name)
    event.listen(engine.sync_engine, "connect", _bulk_settings)
    await engine.dispose()  # connections opened from here on have the bulk settings
    try:
        with many_rows_per_statement():
            yield
    finally:
        async with engine.begin() as conn:
            for definition in deferred:
                await conn.exec_driver_sql(definition)
        event.remove(engine.sync_engine, "connect", _bulk_settings)
        await engine.dispose()
        if engine.dialect.name == "sqlite":  # outside any transaction, or SQLite refuses it
            async with engine.connect() as conn:
                driver = (await conn.get_raw_connection()).driver_connection
                assert driver is not None  # checked out, so it has its driver's connection
                await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def deferred_indexes() -> set[str]:
    """The indexes a rebuild drops for the bulk load and recreates at its end."""
    return {
        str(ix.name)
        for table in metadata.tables.values()
        for ix in table.indexes
        if all(ix.info.get(k) == v for k, v in DEFERRED.items())
    }


async def _drop_deferred_indexes(engine: AsyncEngine) -> list[str]:
    """Drop the indexes declared DEFERRED beside their tables (services/reporting/models/); return
    the statements that recreate them, as the database has them."""
    if engine.dialect.name == "sqlite":
        listing = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    elif engine.dialect.name == "postgresql":
        listing = (
            "SELECT indexname AS name, indexdef AS sql FROM pg_indexes"
            " WHERE schemaname = current_schema()"
        )
    else:
        return []
    deferred = deferred_indexes()
    async with engine.begin() as conn:
        indexes = [
            (row.name, row.sql)
            for row in (await conn.exec_driver_sql(listing)).all()
            if row.name in deferred
        ]
        for name, _ in indexes:
            await conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return [sql for _, sql in indexes]
