"""Ingest lanes (services/reporting/ingest/lanes.py) write exactly what the consumer writes in its
own process: the same rows, the same dead letters with the same reasons, the same duplicates. A
lane that dies gives its batch back and is replaced; the live consumer, a lane killed under it,
still applies every event exactly once."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from services.reporting.app import build_service
from services.reporting.ingest import consumer
from services.reporting.ingest.apply import Incoming
from services.reporting.ingest.consumer import ReportingService
from services.reporting.ingest.lanes import LaneDied, Lanes
from services.reporting.ingest.preparing import FEWEST_TO_SHARE, default_workers
from services.reporting.models import ProducerPositionRow, metadata
from services.reporting.read.queries import report_stamp
from services.reporting.settings import NAME, ReportingSettings
from shared.nats_server import NatsServer
from shared.settings import HubSettings
from shared.signing import NodeKeys, NodeSigner
from shared.telemetry import Telemetry, service_telemetry
from tests.helpers import wait_for
from tests.test_ingest_failures import ack_state, publish
from tests.test_preparing import every_kind_of_message


async def reporting(
    settings: HubSettings, nats_url: str, tmp_path: Path, name: str, **own: Any
) -> ReportingService:
    """A reporting service on a migrated database of its own (a SQLite file by default), its spans
    going nowhere whatever an earlier test set up (lanes are for consumers that make none)."""
    own.setdefault("database_url", f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}")
    service = build_service(settings, nats_url, ReportingSettings(**own), Telemetry.quiet())
    await service.start(consume=False)
    return service


async def every_row(service: ReportingService) -> dict[str, list[tuple[Any, ...]]]:
    async with service.read_sessions() as session:
        return {
            name: sorted((await session.execute(select(table))).all(), key=repr)
            for name, table in metadata.tables.items()
        }


def lanes_for(service: ReportingService, keys: NodeKeys) -> Lanes:
    service.keys = keys
    return service.new_lanes()


def signed_messages(hub: str) -> tuple[NodeKeys, list[Incoming]]:
    """Every kind of message, signed by Coventry, and the keys that check them."""
    signer = NodeSigner.generate()
    return NodeKeys({"coventry": signer.public_key}), every_kind_of_message(hub, signer)


async def test_lanes_write_exactly_what_this_process_writes(
    settings: HubSettings, nats_server: NatsServer, tmp_path: Path
) -> None:
    keys, batch = signed_messages(settings.hub)
    here = await reporting(settings, nats_server.url, tmp_path, "here")
    there = await reporting(settings, nats_server.url, tmp_path, "there")
    here.keys = keys
    lanes = lanes_for(there, keys)
    try:
        expected = [await here.ingest(batch), await here.ingest(batch)]  # the second: all seen
        got = [await lanes.write(await lanes.prepare(batch)) for _ in range(2)]
        assert got == expected
        assert got[0].applied > 0 and len(got[0].dead) >= 3 and got[1].applied == 0
        assert await every_row(there) == await every_row(here)
    finally:
        lanes.close()
        await here.stop()
        await there.stop()


async def test_a_lane_that_dies_gives_its_batch_back_and_is_replaced(
    settings: HubSettings, nats_server: NatsServer, tmp_path: Path
) -> None:
    keys, batch = signed_messages(settings.hub)
    service = await reporting(settings, nats_server.url, tmp_path, "lanes")
    lanes = lanes_for(service, keys)
    try:
        staged = await lanes.prepare(batch)
        (lane,) = lanes._pools[staged.lane]._processes.values()
        os.kill(lane.pid or 0, signal.SIGKILL)
        lane.join(10)
        with pytest.raises(LaneDied):
            await lanes.write(staged)
        assert (await service.ingest([])).applied == 0  # nothing of it was written
        outcome = await lanes.write(await lanes.prepare(batch))
        assert outcome.applied > 0
    finally:
        lanes.close()
        await service.stop()


async def test_the_live_consumer_applies_every_event_once_with_a_lane_killed_under_it(
    settings: HubSettings,
    nats_server: NatsServer,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches of up to 100, lanes started by the first whatever its size; one lane killed as soon
    as they have: its batch is given back and redelivered, and every event is applied exactly once
    (on SQLite and on PostgreSQL)."""
    monkeypatch.setattr(consumer, "FEWEST_TO_SHARE", 1)
    events = FEWEST_TO_SHARE * 12
    await publish(nats_server.url, settings, events)
    service = await reporting(
        settings,
        nats_server.url,
        tmp_path,
        "live",
        database_url=database_url,
        batch_size=FEWEST_TO_SHARE,
    )
    await service.start()
    try:
        if default_workers() > 0:
            lanes = await wait_for(lambda: _lanes_started(service), bool, timeout=30)
            assert lanes is not None
            (lane,) = lanes._pools[0]._processes.values()
            os.kill(lane.pid or 0, signal.SIGKILL)
        applied = await wait_for(lambda: _applied(service), lambda n: n >= events, timeout=60)
        assert applied == events
        assert await ack_state(nats_server.url, settings) == (events, 0, 0)
        async with service.read_sessions() as session:
            producer = await session.scalar(select(ProducerPositionRow.applied))
        assert producer == events
    finally:
        await service.stop()


async def test_the_consumer_prepares_in_its_own_process_where_spans_are_made(
    settings: HubSettings, nats_server: NatsServer, tmp_path: Path
) -> None:
    """Per-event spans are made where events are prepared: a consumer whose spans go somewhere
    starts no lanes, however large its batches."""
    exporter = InMemorySpanExporter()
    telemetry = service_telemetry(
        settings, NAME, own_traces=True, extra=SimpleSpanProcessor(exporter)
    )
    events = FEWEST_TO_SHARE * 2
    await publish(nats_server.url, settings, events)
    url = f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}"
    service = build_service(
        settings, nats_server.url, ReportingSettings(database_url=url), telemetry
    )
    await service.start()
    try:
        assert await wait_for(lambda: _applied(service), lambda n: n >= events) == events
        applied = [s for s in exporter.get_finished_spans() if s.name.startswith("apply ")]
        assert len(applied) == events and service.lanes is None
    finally:
        await service.stop()


async def _lanes_started(service: ReportingService) -> Lanes | None:
    """The service's lanes once both have started."""
    lanes = service.lanes
    if lanes is None or not all(pool._processes for pool in lanes._pools):
        return None
    return lanes


async def _applied(service: ReportingService) -> int:
    async with service.read_sessions() as session:
        return (await report_stamp(session)).applied_events
