"""Outbox relay against a real nats-server: order, dedup on retry after a crash, NATS outages."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from nats.js.api import StreamInfo

from services.partners import app as partners_app
from services.partners.services import RegisterOrganisation, register_organisation
from shared.bus import connect, ensure_hub_topology
from shared.nats_server import NatsServer, free_port
from shared.node_service import NodeService, let_go
from shared.relay import BatchAcks, OutboxRelay
from shared.settings import HubSettings
from shared.subjects import node_stream
from tests.helpers import System, wait_for


async def register(service: NodeService, n: int, prefix: str = "Org") -> None:
    for i in range(n):
        cmd = RegisterOrganisation(name=f"{prefix} {i}", roles=["delivery_partner"])
        await register_organisation(cmd, service.unit_of_work())


async def stream_state(url: str, stream: str) -> StreamInfo:
    nc = await connect(url, "test-inspect")
    try:
        return await nc.jetstream().stream_info(stream)
    finally:
        await nc.close()


async def test_relay_publishes_in_sequence_order_with_the_event_id_as_msg_id(
    settings: HubSettings, nats_server: NatsServer
) -> None:
    service = partners_app.build_service(settings, "coventry", nats_server.url)
    await service.start()
    try:
        await register(service, 30)
        nc = await connect(nats_server.url, "test-read")
        js = nc.jetstream()
        stream = node_stream(settings.hub, "coventry")
        info = await wait_for(lambda: js.stream_info(stream), lambda i: i.state.messages >= 30)
        assert info.state.messages == 30
        sequences = []
        for seq in range(1, 31):
            msg = await js.get_msg(stream, seq)
            envelope = json.loads(msg.data)
            assert msg.headers["Nats-Msg-Id"] == envelope["event_id"]
            sequences.append(envelope["sequence"])
        assert sequences == list(range(1, 31))
        await nc.close()
    finally:
        await service.stop()


async def test_crash_between_publish_and_commit_of_the_cursor_counts_each_event_once(
    system: System,
) -> None:
    """A relay that published but died before recording it republishes; the hub counts each once."""
    coventry = system.services[("coventry", "partners")]
    assert coventry.relay is not None
    await coventry.stop()  # stop the live relay: we play the crashing one by hand
    crashed = partners_app.build_service(system.settings, "coventry", system.nats_url)
    await crashed.start(relay=False)
    await register(crashed, 12)

    nc = await connect(system.nats_url, "test-crash")
    relay = OutboxRelay(crashed.sessions, crashed.outbox, nc)
    pending = await relay.fetch_pending()
    await relay.publish(
        pending[:7]
    )  # published to JetStream ... then the process dies: no mark_published
    assert await relay.backlog() == 12

    restarted = OutboxRelay(crashed.sessions, crashed.outbox, nc)
    while await restarted.relay_once():
        pass
    assert await restarted.backlog() == 0
    info = await stream_state(system.nats_url, node_stream(system.settings.hub, "coventry"))
    assert info.state.messages == 12  # the 7 republished were dropped by the duplicate window

    report = await system.report_when(lambda r: r.stamp.applied_events >= 12)
    assert report.totals.organisations == 12
    await asyncio.sleep(0.3)  # anything extra would have arrived by now
    assert (await system.report()).totals.organisations == 12
    await nc.close()
    await crashed.stop()


async def test_relay_waits_out_a_nats_outage_and_loses_nothing(
    settings: HubSettings, tmp_path: Path
) -> None:
    port = free_port()
    server = NatsServer(tmp_path / "own-nats", port=port).start()
    nc = await connect(server.url, "test-provision")
    await ensure_hub_topology(nc.jetstream(), settings.hub, ["coventry"], 600)
    await nc.close()
    service = partners_app.build_service(settings, "coventry", server.url)
    await service.start()
    try:
        await register(service, 5, "before")
        assert service.relay is not None
        await wait_for(service.relay.backlog, lambda b: b == 0)
        server.kill()
        await register(service, 10, "during")  # writes still succeed: they wait in the outbox
        await asyncio.sleep(1.0)
        assert await service.relay.backlog() == 10
        server = NatsServer(
            tmp_path / "own-nats", port=port
        ).start()  # same store: the stream survives
        backlog = await wait_for(service.relay.backlog, lambda b: b == 0, timeout=20)
        assert backlog == 0
        info = await stream_state(server.url, node_stream(settings.hub, "coventry"))
        assert info.state.messages == 15
    finally:
        await service.stop()
        server.stop()


async def test_a_relay_woken_as_it_is_cancelled_stops(system: System) -> None:
    """A write's wake-up arriving with the stop's cancel must not keep the relay running
    (asyncio.wait_for on Python 3.11 swallowed such a cancel, and stopping the service then
    hung)."""
    service = system.services[("coventry", "partners")]
    assert service.relay is not None and service._relay_task is not None
    assert await wait_for(service.relay.backlog, lambda n: n == 0) == 0
    await asyncio.sleep(0)  # the relay is idle, waiting to be woken
    service.relay.wake()
    service._relay_task.cancel()
    await asyncio.wait([service._relay_task], timeout=10)
    assert service._relay_task.cancelled()


async def test_a_relay_cut_off_from_nats_says_why_it_retries(
    settings: HubSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While NATS is down the relay logs the exception's type and what went wrong, never an empty
    reason (it logged `outbox relay: ; retrying in 0.80s`)."""
    server = NatsServer(tmp_path / "own-nats").start()
    nc = await connect(server.url, "test-cut-off")
    await ensure_hub_topology(nc.jetstream(), settings.hub, ["coventry"], 600)
    service = partners_app.build_service(settings, "coventry", server.url)
    await service.start(relay=False)
    await register(service, 3)
    server.kill()
    relay = OutboxRelay(service.sessions, service.outbox, nc, ack_timeout=0.2)
    task = asyncio.create_task(relay.run())
    try:
        await wait_for(lambda: asyncio.sleep(0, relay.failures), lambda n: n >= 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await let_go(nc, "test")
        await service.stop()
    retries = [r.getMessage() for r in caplog.records if "outbox relay:" in r.getMessage()]
    assert len(retries) >= 2
    for line in retries:
        assert re.match(r"outbox relay: [A-Z]\w+: \S.*; retrying in", line), line
    assert "no acknowledgement from JetStream for 3 event(s) within 0.2s" in retries[0]


async def test_a_publish_no_stream_takes_fails_the_batch_and_keeps_the_cursor(
    settings: HubSettings, nats_server: NatsServer
) -> None:
    """JetStream's refusal (here: no stream for the subject) is a failed batch, never an ack."""
    service = partners_app.build_service(settings, "coventry", nats_server.url)
    await service.start(relay=False)  # no stream declared for this hub's subjects
    await register(service, 3)
    nc = await connect(nats_server.url, "test-no-stream")
    relay = OutboxRelay(service.sessions, service.outbox, nc, ack_timeout=5)
    try:
        with pytest.raises(RuntimeError, match=r"3 of 3 publishes failed: no stream takes"):
            await relay.relay_once()
        assert await relay.backlog() == 3
    finally:
        await nc.close()
        await service.stop()


class _Reply:
    def __init__(self, subject: str, data: bytes) -> None:
        self.subject, self.data, self.headers = subject, data, None


class _Client:
    """What BatchAcks needs of a connection: an inbox and a subscription to it."""

    def __init__(self) -> None:
        self.deliver: Callable[[Any], Awaitable[None]] | None = None

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject: str, cb: Callable[[Any], Awaitable[None]]) -> None:
        assert subject == "_INBOX.test.*"
        self.deliver = cb


async def test_acks_are_counted_per_batch_and_a_late_one_of_an_abandoned_batch_is_not() -> None:
    client = _Client()
    acks = BatchAcks(client)  # type: ignore[arg-type]  # the two methods it uses
    first = await acks.begin(2)
    assert client.deliver is not None
    await client.deliver(_Reply(first, b'{"stream":"S","seq":1}'))
    with pytest.raises(TimeoutError):  # one of two: the batch is given up on (and published again)
        await acks.wait(0.05)
    second = await acks.begin(2)
    assert second != first
    await client.deliver(_Reply(first, b'{"stream":"S","seq":2}'))  # late: the first batch's
    await client.deliver(_Reply(second, b'{"stream":"S","seq":2,"duplicate":true}'))
    with pytest.raises(TimeoutError):
        await acks.wait(0.05)
    refusal = b'{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}'
    await client.deliver(_Reply(second, refusal))
    assert await acks.wait(0.05) == ["maximum messages exceeded (code 10077)"]
