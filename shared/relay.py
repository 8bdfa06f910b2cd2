"""Outbox relay: publish committed events to JetStream in sequence order, exactly once in effect.

Each batch is published pipelined on one connection (so the server stores it in order), every
publish carries the event id as ``Nats-Msg-Id`` (so a retry after a crash is dropped by the
stream's duplicate window), and the published cursor moves only after every ack has arrived.
While NATS is unreachable the relay retries with capped exponential backoff; nothing is skipped.

The relay is the one place a node's events leave it, so it is where they are signed: with the
node's key, once per published batch, over the bytes exactly as published (``shared.signing``).
Whatever wrote an event (HTTP, CLI, an import, a loader), it goes out signed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.outbox import PUBLISHED, SEQUENCE, Outbox, read_cursor
from shared.signing import NodeSigner
from shared.telemetry import SECONDS_BUCKETS, Telemetry

log = logging.getLogger(__name__)


class RelayMetrics:
    """What an operator watches of a relay, recorded per batch: the backlog (committed, not yet
    acknowledged), events published, how long a batch takes to be acknowledged, failed attempts."""

    def __init__(self, telemetry: Telemetry) -> None:
        meter = telemetry.meter("hub-ledger.relay")
        self.backlog = meter.create_gauge(
            "hub.relay.backlog", unit="{event}", description="Events committed, not yet published."
        )
        self.published = meter.create_counter(
            "hub.relay.published", unit="{event}", description="Events acknowledged by JetStream."
        )
        self.publish_time = meter.create_histogram(
            "hub.relay.publish.duration",
            unit="s",
            description="From a batch's first publish to its last acknowledgement.",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )
        self.failures = meter.create_counter(
            "hub.relay.failures", unit="{attempt}", description="Relay attempts that failed."
        )
        self.failures.add(0)  # a series from the start: Prometheus' increase() misses a first 1


def failure_reason(exc: BaseException) -> str:
    """An exception as one log line: its type and what it says; where it says nothing (a bare
    timeout), what it came from."""
    text = str(exc).strip()
    origin = exc.__cause__ or exc.__context__
    if not text and origin is not None:
        text = f"from {failure_reason(origin)}"
    return f"{type(exc).__name__}: {text}" if text else f"{type(exc).__name__} (no message)"


@dataclass(frozen=True, slots=True)
class PendingEvent:
    sequence: int
    event_id: str
    event_type: str
    subject: str
    body: bytes
    traceparent: str | None


class BatchAcks:
    """JetStream's acknowledgements of the batches one connection publishes, counted per batch.

    Every message of a batch asks for its acknowledgement on the batch's own reply subject, and one
    subscription counts them: no future, acknowledgement object and callback per message, as
    nats-py's ``publish_async`` makes (with them a signed event cost the relay 77-93 µs of CPU,
    without 45-59: 20,000 events, 2026-12-06). An acknowledgement of a batch given up on (timed
    out) is ignored: that batch is published again, and JetStream drops what it already stored."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix: str | None = None
        self._batches = 0
        self._reply = ""
        self._expected = 0
        self._acked = 0
        self._problems: list[str] = []
        self._all_acked = asyncio.Event()

    async def begin(self, size: int) -> str:
        """Start counting a batch of `size` messages; the reply subject each of them must carry."""
        if self._prefix is None:
            self._prefix = f"{self._nc.new_inbox()}."
            await self._nc.subscribe(f"{self._prefix}*", cb=self._on_reply)
        self._batches += 1
        self._reply = f"{self._prefix}{self._batches}"
        self._expected, self._acked, self._problems = size, 0, []
        self._all_acked.clear()
        return self._reply

    async def wait(self, timeout: float) -> list[str]:
        """Once every message of the batch is acknowledged: what went wrong with any of them
        (empty: each is stored, or was already). TimeoutError if some never are."""
        async with asyncio.timeout(timeout):
            await self._all_acked.wait()
        return self._problems

    async def _on_reply(self, msg: Msg) -> None:
        if msg.subject != self._reply:
            return
        data = msg.data  # the usual {"stream":..,"seq":..} needs no parsing
        if (not data or b'"error"' in data) and (problem := ack_problem(msg)) is not None:
            self._problems.append(problem)
        self._acked += 1
        if self._acked >= self._expected:
            self._all_acked.set()


def ack_problem(msg: Msg) -> str | None:
    """None if `msg` acknowledges a message stored (or a duplicate dropped), else what is wrong."""
    if not msg.data:
        status = (msg.headers or {}).get("Status")
        if status == "503":
            return "no stream takes this subject (503 no responders)"
        return f"empty reply to a publish (status {status})"
    try:
        reply = json.loads(msg.data)
    except ValueError:
        return f"unreadable acknowledgement {msg.data[:80]!r}"
    error = reply.get("error") if isinstance(reply, dict) else "not an object"
    if error is None:
        return None
    if isinstance(error, dict):
        return f"{error.get('description', 'error')} (code {error.get('err_code', '?')})"
    return f"unexpected acknowledgement {msg.data[:80]!r}"


class OutboxRelay:
    """Moves a service's outbox to JetStream over connection `nats`. Run ``run()`` as a task;
    call ``wake()`` after commits."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        nats: Client,
        *,
        batch_size: int = 1000,
        ack_timeout: float = 10.0,
        idle_poll: float = 1.0,
        max_backoff: float = 5.0,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
        signer: NodeSigner | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._sessions = sessions
        self._read_sessions = read_sessions or sessions
        self._outbox = outbox
        self._nats = nats
        self._acks = BatchAcks(nats)
        self._batch_size = batch_size
        self._ack_timeout = ack_timeout
        self._idle_poll = idle_poll
        self._max_backoff = max_backoff
        self._signer = signer
        self._wakeup = asyncio.Event()
        telemetry = telemetry or Telemetry.quiet()
        self._tracer = telemetry.tracer("hub-ledger.relay") if telemetry.traced else None
        self._metrics = RelayMetrics(telemetry)
        self._committed = 0
        self.published = 0
        self.failures = 0
        self.failing: tuple[int, str] | None = None
        """Attempts failed in a row since the last success, and the last reason (None: working)."""

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """Publish forever: drain the backlog, then sleep until woken or polled."""
        backoff = 0.05
        while True:
            # cleared before looking, not after: a commit's wake while a batch is in flight would
            # otherwise be lost, and its event wait for the idle poll
            self._wakeup.clear()
            try:
                moved = await self.relay_once()
                backoff, self.failing = 0.05, None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down, timeouts, database locked: retry, never skip
                self.failures += 1
                self._metrics.failures.add(1)
                self.failing = ((self.failing or (0, ""))[0] + 1, failure_reason(exc))
                log.warning("outbox relay: %s; retrying in %.2fs", failure_reason(exc), backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            if moved < self._batch_size:
                # not wait_for: on Python 3.11 it swallows a cancel that comes as the event is set
                try:
                    async with asyncio.timeout(self._idle_poll):
                        await self._wakeup.wait()
                except TimeoutError:
                    pass

    async def relay_once(self) -> int:
        """Publish one batch of pending events and advance the cursor; returns how many moved."""
        pending = await self.fetch_pending()
        if not pending:
            return 0
        started = time.perf_counter()
        await self.publish(pending)
        self._metrics.publish_time.record(time.perf_counter() - started)
        await self.mark_published(pending[-1].sequence)
        self.published += len(pending)
        self._metrics.published.add(len(pending))
        self._metrics.backlog.set(max(self._committed - pending[-1].sequence, 0))
        return len(pending)

    async def fetch_pending(self) -> list[PendingEvent]:
        table, cursor = self._outbox.table, self._outbox.cursor
        async with self._read_sessions() as session:  # a reader: never queues behind writers
            positions = dict(
                (await session.execute(select(cursor.c.name, cursor.c.position))).all()
            )
            after, self._committed = positions[PUBLISHED], positions[SEQUENCE]
            self._metrics.backlog.set(self._committed - after)
            rows = await session.execute(
                select(
                    table.c.sequence,
                    table.c.event_id,
                    table.c.event_type,
                    table.c.subject,
                    table.c.body,
                    table.c.traceparent,
                )
                .where(table.c.sequence > after)
                .order_by(table.c.sequence)
                .limit(self._batch_size)
            )
            return [PendingEvent(*row) for row in rows]

    async def publish(self, pending: list[PendingEvent]) -> None:
        """Publish a batch pipelined and wait for every ack; raises if any publish failed."""
        if not pending:
            return
        reply = await self._acks.begin(len(pending))
        publish = self._nats.publish
        for event, proof in zip(pending, self._proofs(pending), strict=True):
            headers = {"Nats-Msg-Id": event.event_id, **proof}
            if self._tracer is not None:
                await self._publish_traced(self._tracer, event, reply, headers)
                continue
            if event.traceparent:  # untraced: the writer's trace still reaches the consumer
                headers["traceparent"] = event.traceparent
            await publish(event.subject, event.body, reply, headers)
        try:
            problems = await self._acks.wait(self._ack_timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no acknowledgement from JetStream for {len(pending)} event(s) within "
                f"{self._ack_timeout:g}s (is NATS reachable?)"
            ) from None
        if problems:
            raise RuntimeError(f"{len(problems)} of {len(pending)} publishes failed: {problems[0]}")

    async def _publish_traced(
        self, tracer: trace.Tracer, event: PendingEvent, reply: str, headers: dict[str, str]
    ) -> None:
        """Publish in a producer span, a child of the request that wrote the event."""
        parent = (
            propagate.extract({"traceparent": event.traceparent}) if event.traceparent else None
        )
        token = otel_context.attach(parent) if parent is not None else None
        try:
            with tracer.start_as_current_span(
                f"publish {event.event_type}",
                kind=trace.SpanKind.PRODUCER,
                attributes={
                    "hub.event.type": event.event_type,
                    "hub.event.sequence": event.sequence,
                },
            ):
                propagate.inject(headers)
                await self._nats.publish(event.subject, event.body, reply, headers)
        finally:
            if token is not None:
                otel_context.detach(token)

    def _proofs(self, pending: list[PendingEvent]) -> list[dict[str, str]]:
        """Each message's signature headers (none when this node does not sign)."""
        if self._signer is None:
            return [{} for _ in pending]
        producer = self._outbox.producer
        return self._signer.sign_batch(producer.hub, producer.node, [e.body for e in pending])

    async def mark_published(self, through_sequence: int) -> None:
        cursor = self._outbox.cursor
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(cursor)
                .where(cursor.c.name == PUBLISHED, cursor.c.position < through_sequence)
                .values(position=through_sequence)
            )

    async def backlog(self) -> int:
        """Events committed but not yet acknowledged by JetStream; reads the newest outbox row too,
        so a readiness probe through here finds an outbox that cannot be read (raises)."""
        async with self._read_sessions() as session:
            table = self._outbox.table
            await session.execute(
                select(table.c.sequence).order_by(table.c.sequence.desc()).limit(1)
            )
            sequence = await read_cursor(session, self._outbox.cursor, "sequence")
            published = await read_cursor(session, self._outbox.cursor, PUBLISHED)
            return sequence - published
