"""A batch whose write fails is given back whole, and nothing behind it is written or acknowledged
until it returns and commits: the durable acknowledges all, so an ack of a later message would
acknowledge the failed batch too, never applied. Every event is applied once, in stream order."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from nats.aio.msg import Msg

from services.reporting.app import build_service
from services.reporting.ingest.apply import Incoming, IngestOutcome
from services.reporting.ingest.consumer import ReportingService
from services.reporting.ingest.handlers import BatchPipeline
from services.reporting.read.queries import ReportStamp, report_stamp
from services.reporting.settings import ReportingSettings
from shared.bus import connect, ensure_hub_topology
from shared.nats_server import NatsServer
from shared.settings import HubSettings
from shared.subjects import event_subject, hub_stream
from tests.helpers import wait_for
from tests.test_reporting_ingest import org_event

EVENTS = 60


async def publish(url: str, settings: HubSettings, count: int) -> None:
    nc = await connect(url, "test-ingest-failures")
    try:
        js = nc.jetstream()
        await ensure_hub_topology(js, settings.hub, settings.nodes, 600)
        subject = event_subject(settings.hub, "coventry", "partners", "OrganisationRegistered", 1)
        for i in range(1, count + 1):
            await js.publish(subject, org_event(settings.hub, sequence=i))
        await wait_for(
            lambda: js.stream_info(hub_stream(settings.hub)),
            lambda info: info.state.messages == count,
        )
    finally:
        await nc.close()


async def ack_state(url: str, settings: HubSettings) -> tuple[int, int, int]:
    """The durable's acknowledgement floor, messages in flight and messages not yet delivered,
    once nothing is in flight."""
    nc = await connect(url, "test-ingest-failures-acks")
    try:
        info = await wait_for(
            lambda: nc.jetstream().consumer_info(hub_stream(settings.hub), "reporting"),
            lambda i: i.num_ack_pending == 0,
        )
        return info.ack_floor.stream_seq, info.num_ack_pending, info.num_pending
    finally:
        await nc.close()


async def _stamp(service: ReportingService) -> ReportStamp:
    async with service.read_sessions() as session:
        return await report_stamp(session)


async def test_a_write_failing_with_later_messages_fetched_commits_every_event_once_in_order(
    settings: HubSettings, nats_server: NatsServer
) -> None:
    """Batches of 10, each write slow enough that later messages are fetched meanwhile, the third
    write failing once: every stream position is committed exactly once, in order, and the
    durable acknowledges exactly what was committed."""
    await publish(nats_server.url, settings, EVENTS)
    reporting = build_service(settings, nats_server.url, ReportingSettings(batch_size=10))
    committed: list[int] = []
    apply, failed, writes = reporting.apply, asyncio.Event(), [0]

    async def slow_failing_once(prepared: Any) -> Any:
        await asyncio.sleep(0.05)
        writes[0] += 1
        if writes[0] == 3:
            failed.set()
            raise OSError("database away")
        outcome = await apply(prepared)
        committed.extend(m.stream_seq for m in prepared.batch)
        return outcome

    reporting.apply = slow_failing_once  # type: ignore[method-assign]
    await reporting.start()
    try:
        await wait_for(lambda: asyncio.sleep(0, committed), lambda c: len(c) >= EVENTS)
        assert failed.is_set()
        assert committed == list(range(1, EVENTS + 1)), committed
        assert await ack_state(nats_server.url, settings) == (EVENTS, 0, 0)
        await asyncio.sleep(0.3)  # a second delivery of anything would show in the count
        assert (await _stamp(reporting)).applied_events == EVENTS
    finally:
        await reporting.stop()


class FakeMessage:
    """A fetched message as the handler sees it: its stream sequence (in its ack subject), its
    ack and nack, recorded in the order they happen."""

    def __init__(self, seq: int, log: list[tuple[str, int]]) -> None:
        self.reply = f"$JS.ACK.stream.reporting.1.{seq}.{seq}.0.0"
        self.subject, self.data, self.headers = "hub.event", b"{}", None
        self.seq, self._log = seq, log

    async def ack(self) -> None:
        self._log.append(("ack", self.seq))

    async def nak(self) -> None:
        self._log.append(("nak", self.seq))


def recording_pipeline(
    log: list[tuple[str, int]], batch_size: int, fails_first: bool = False
) -> BatchPipeline[list[Incoming]]:
    """A pipeline whose writes record what they commit (the first failing, if so)."""
    failures = [fails_first]

    async def prepare(batch: list[Incoming]) -> list[Incoming]:
        return batch

    async def write(batch: list[Incoming], _pending: int | None) -> IngestOutcome:
        await asyncio.sleep(0.01)  # a write takes a while: later fetches arrive meanwhile
        if failures.pop() if failures else False:
            raise OSError("database away")
        log.append(("commit", batch[-1].stream_seq))
        log.extend(("wrote", m.stream_seq) for m in batch[:-1])
        return IngestOutcome(applied=len(batch))

    async def no_dead_letters(_outcome: IngestOutcome) -> None:
        return None

    return BatchPipeline(prepare, write, no_dead_letters, batch_size)


def fetched(log: list[tuple[str, int]], *seqs: int) -> list[Msg]:
    return cast(list[Msg], [FakeMessage(s, log) for s in seqs])


async def test_given_back_messages_hold_back_every_later_one_until_they_commit() -> None:
    """A failed batch, a later batch fetched before its redelivery, then the redelivery split
    across two fetches and out of order: written in stream order, each ack after its commit,
    nothing acknowledged past a message not yet committed."""
    log: list[tuple[str, int]] = []
    pipeline = recording_pipeline(log, batch_size=2, fails_first=True)
    await pipeline.take(fetched(log, 4, 5, 6))
    await pipeline.take(fetched(log, 7, 8, 9))  # fetched before the redelivery
    await pipeline.take(fetched(log, 5, 4))  # the redelivery, split and unordered
    await pipeline.take(fetched(log, 8, 9, 6, 7))
    await pipeline.settled()
    assert log == [
        *[("nak", s) for s in (4, 5, 6)],
        *[("nak", s) for s in (7, 8, 9)],  # nothing written or acknowledged behind 4
        ("commit", 5),
        ("wrote", 4),
        ("ack", 5),
        ("commit", 9),
        *[("wrote", s) for s in (6, 7, 8)],
        ("ack", 9),
    ]
    assert not pipeline.given_back.owed


async def test_a_short_fetch_during_a_write_goes_with_the_next_or_alone_once_written() -> None:
    """Fetches of half a batch or less while a write goes on are held: the next fetch takes them
    along; with none coming (a quiet stream), they are written alone once the write is settled."""
    log: list[tuple[str, int]] = []
    pipeline = recording_pipeline(log, batch_size=6)
    await pipeline.take(fetched(log, 1, 2, 3, 4))  # more than half: written at once
    await pipeline.take(fetched(log, 5, 6))  # short, while 1-4 are written: held
    await pipeline.take(fetched(log, 7, 8))  # goes with 5 and 6
    await pipeline.take(fetched(log, 9))  # short, while 5-8 are written; no fetch follows
    await pipeline.settled()
    assert [entry for entry in log if entry[0] != "wrote"] == [
        ("commit", 4),
        ("ack", 4),
        ("commit", 8),
        ("ack", 8),
        ("commit", 9),
        ("ack", 9),
    ]
