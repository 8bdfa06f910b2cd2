"""The ingest pipeline: batches prepared while the one before is written, in order, and a batch
whose write failed holds back the one after it (both are redelivered, in order)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.pool import NullPool

from shared.bus import connect
from shared.db import create_engine, session_factory
from shared.settings import HubSettings
from shared.subjects import hub_stream
from services.reporting.app import build_service
from services.reporting.audit import projection_tables
from services.reporting.pipeline import IngestPipeline
from services.reporting.services import IngestOutcome, ingest_batch
from services.reporting.settings import ReportingSettings
from tests.helpers import System, organisation, wait_for
from tests.test_projection_batching import history

Outcomes = list[IngestOutcome | None]


def recorder(outcomes: Outcomes):  # type: ignore[no-untyped-def]
    async def written(outcome: IngestOutcome | None) -> None:
        outcomes.append(outcome)
    return written


async def tables(service) -> dict[str, list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    async with service.read_sessions() as session:
        return {t.name: sorted((dict(r._mapping) for r in await session.execute(select(t))), key=repr)
                for t in projection_tables()}


async def test_pipelined_batches_give_the_tables_of_one_batch(settings: HubSettings, tmp_path: Path) -> None:
    events = history(settings.hub)
    at_once = build_service(settings, "", ReportingSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"))
    piped = build_service(settings, "", ReportingSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"))
    for service in (at_once, piped):
        await service.start(consume=False)
    try:
        await ingest_batch(events, at_once.sessions, settings.hub)
        outcomes: Outcomes = []
        pipeline = IngestPipeline(piped.sessions, settings.hub)
        for i in range(0, len(events), 3):  # the update of a row and its insert in different batches
            await pipeline.submit(events[i:i + 3], recorder(outcomes))
        await pipeline.drain()
        assert [o.applied for o in outcomes if o] == [3, 3, 3, 1]
        assert await tables(piped) == await tables(at_once)
    finally:
        for service in (at_once, piped):
            await service.stop()


async def test_a_failed_write_holds_back_the_next_batch(settings: HubSettings, tmp_path: Path) -> None:
    """The database refuses the first write (read-only): it and the batch after it are told None,
    so both are redelivered in order; the third is written; redelivered, the first two apply."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    service = build_service(settings, "", ReportingSettings(database_url=url))
    await service.start(consume=False)
    engine = create_engine(url, poolclass=NullPool)  # a new connection per write, each with the flag of its time
    read_only = {"on": True}

    @event.listens_for(engine.sync_engine, "connect")
    def _query_only(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.cursor().execute(f"PRAGMA query_only={'ON' if read_only['on'] else 'OFF'}")

    outcomes: Outcomes = []

    async def written(outcome: IngestOutcome | None) -> None:
        outcomes.append(outcome)
        read_only["on"] = False  # the outage ends once the failure is seen

    events = history(settings.hub)
    first, second, third = events[:2], events[2:4], events[4:6]
    pipeline = IngestPipeline(session_factory(engine), settings.hub)
    try:
        for batch in (first, second, third):
            await pipeline.submit(batch, written)
        await pipeline.drain()
        assert [o if o is None else o.applied for o in outcomes] == [None, None, 2]
        for batch in (first, second):
            await pipeline.submit(batch, written)
        await pipeline.drain()
        assert [o.applied for o in outcomes[3:] if o] == [2, 2]
        assert (await service.ingest(events[:6])).duplicates == 6
    finally:
        await engine.dispose()
        await service.stop()


async def test_closing_finishes_the_write_in_flight_and_writes_nothing_after(settings: HubSettings, tmp_path: Path) -> None:
    service = build_service(settings, "", ReportingSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"))
    await service.start(consume=False)
    events = history(settings.hub)
    outcomes: Outcomes = []
    pipeline = IngestPipeline(service.sessions, settings.hub)
    try:
        await pipeline.submit(events[:5], recorder(outcomes))
        await pipeline.close()
        await pipeline.submit(events[5:], recorder(outcomes))
        assert [o if o is None else o.applied for o in outcomes] == [5, None]
    finally:
        await service.stop()


async def test_a_stopped_consumer_leaves_nothing_unacknowledged(system: System) -> None:
    """The consumer acks each batch itself once written; stopping lets the last write finish and ack."""
    for i in range(30):
        assert (await system.post("coventry", "partners", "/organisations", organisation(f"Org {i}"))).status_code == 201
    await system.report_when(lambda r: r.stamp.applied_events >= 30)
    await system.reporting.stop()
    nc = await connect(system.nats_url, "test-acks")
    try:
        js = nc.jetstream()
        info = await wait_for(lambda: js.consumer_info(hub_stream(system.settings.hub), system.reporting.own.durable),
                              lambda i: i.num_ack_pending == 0)
        assert (info.num_ack_pending, info.num_pending, info.num_redelivered) == (0, 0, 0)
    finally:
        await nc.close()
