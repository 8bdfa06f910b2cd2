"""Bring a restored node service's database forward from its own events kept in the streams.

A node database restored from a backup lacks what was written after it; the events of those
writes are still in the node's stream (and in the hub stream, which sources it). ``recover``
reads this producer's events after the database's outbox position, applies each to the service's
tables with the service's own ``Restorer`` (one function per event type, in
``services/<service>/restore.py``), puts each back in the outbox with its original bytes, and
moves the outbox cursors past them, in one transaction: the node then numbers new events after
everything the hub has seen, and the relay republishes only what its node stream lacks (same event
ids, so the hub's duplicate window drops any copy). What events never carried (a pupil's UPN, a
contact's email) cannot come back this way; the restorers say what they left blank.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.envelope import InvalidEvent, ReceivedEvent, parse_event
from shared.outbox import PUBLISHED, SEQUENCE, Outbox, read_cursor
from shared.subjects import node_subjects

log = logging.getLogger(__name__)

MSG_ID = "Nats-Msg-Id"

Restorer = Callable[[AsyncSession, ReceivedEvent], Awaitable[list[str]]]
"""Apply one event to the service's tables; returns notes on what the event could not bring back."""


class RecoveryRefused(RuntimeError):
    """Recovery would be wrong (conflicting events, an event type it cannot restore);
    nothing changed."""


@dataclass(frozen=True)
class StoredEvent:
    subject: str
    data: bytes
    event: ReceivedEvent


@dataclass
class Recovery:
    """What ``recover`` did for one node service."""

    service: str
    from_sequence: int
    to_sequence: int
    restored: int = 0
    republish: int = 0
    notes: list[str] = field(default_factory=list)


async def producer_events(
    js: JetStreamContext, stream: str, hub: str, node: str, service: str, after: int
) -> dict[int, StoredEvent]:
    """This producer's events in `stream` with an envelope sequence above `after`, by sequence."""
    prefix = node_subjects(hub, node).removesuffix(">") + f"{service}."
    found: dict[int, StoredEvent] = {}
    seq = 1
    while True:
        try:
            msg = await js.get_msg(stream, seq=seq, subject=f"{prefix}>", next=True)
        except NotFoundError:
            return found
        seq = (msg.seq or seq) + 1
        try:
            event = parse_event(msg.data or b"")
        except (
            InvalidEvent
        ):  # not this producer's event (reporting dead-lettered it): none to restore
            log.warning("%s seq %s on %s is not an event: skipped", stream, msg.seq, msg.subject)
            continue
        if event.envelope.sequence > after:
            assert msg.subject, "a message read by subject carries its subject"
            found[event.envelope.sequence] = StoredEvent(msg.subject, msg.data or b"", event)


async def refill_node_stream(
    node_js: JetStreamContext,
    node_stream: str,
    hub_js: JetStreamContext,
    hub_stream: str,
    hub: str,
    node: str,
) -> int:
    """Put back into a node stream restored from a backup the node's messages the hub stream took
    after the node stream's last one, in the hub stream's order, at the sequences they had: the
    number put back.

    The hub stream's source resumes after the node stream sequence it last took, so a restored
    node stream that numbered new messages from its backup's end would have the hub skip them
    (whichever of the node's relays published first). Put back in order, the node stream holds
    again at each sequence the message the hub took there, and new writes follow them. If the node
    stream's last message is not in the hub stream the hub is behind the node: nothing to put
    back."""
    state = (await node_js.stream_info(node_stream)).state
    last_id = None
    if state.messages:
        last = await node_js.get_msg(node_stream, seq=state.last_seq)
        last_id = (last.headers or {}).get(MSG_ID)
        if last_id is None:  # not a relay's message: where the hub took it cannot be told
            return 0
    found = last_id is None
    missing = []
    seq = 1
    while True:
        try:
            msg = await hub_js.get_msg(
                hub_stream, seq=seq, subject=node_subjects(hub, node), next=True
            )
        except NotFoundError:
            break
        seq = (msg.seq or seq) + 1
        if found:
            missing.append(msg)
        elif (msg.headers or {}).get(MSG_ID) == last_id:
            found = True
    if not found:
        return 0
    for i, msg in enumerate(missing):
        assert msg.subject, "a message read by subject carries its subject"
        headers = {k: v for k, v in (msg.headers or {}).items() if not k.startswith("Nats-")}
        if msg_id := (msg.headers or {}).get(MSG_ID):
            headers[MSG_ID] = msg_id
        headers["Nats-Expected-Last-Sequence"] = str(state.last_seq + i)
        try:
            await node_js.publish(msg.subject, msg.data or b"", stream=node_stream, headers=headers)
        except APIError as exc:
            raise RecoveryRefused(
                f"{node}: the node stream took new messages while its events were put back "
                f"({exc}); stop the node's services and recover again"
            ) from exc
    return len(missing)


def merge(*sources: dict[int, StoredEvent]) -> list[StoredEvent]:
    """One event per sequence from every stream read;
    two different events for a sequence is refused."""
    merged: dict[int, StoredEvent] = {}
    for source in sources:
        for sequence, stored in source.items():
            seen = merged.setdefault(sequence, stored)
            if seen.event.envelope.event_id != stored.event.envelope.event_id:
                raise RecoveryRefused(
                    f"sequence {sequence} is event {seen.event.envelope.event_id} in one stream "
                    f"and {stored.event.envelope.event_id} in another"
                )
    return [merged[s] for s in sorted(merged)]


async def recover(
    sessions: async_sessionmaker[AsyncSession],
    outbox: Outbox,
    restorers: dict[str, Restorer],
    streams: list[tuple[JetStreamContext, str]],
    node_stream_last: int,
) -> Recovery:
    """Restore the events after the outbox position from `streams` ((context, stream name) pairs).

    `node_stream_last` is this producer's last sequence in its node stream: the relay republishes
    whatever comes after it (and nothing the node stream already holds, whatever the database's
    own published cursor said at the backup).
    """
    p = outbox.producer
    async with sessions() as session:
        emitted = await read_cursor(session, outbox.cursor, SEQUENCE)
        published = await read_cursor(session, outbox.cursor, PUBLISHED)
        local = dict(
            (
                await session.execute(
                    select(outbox.table.c.sequence, outbox.table.c.event_id).where(
                        outbox.table.c.sequence > published
                    )
                )
            ).all()
        )
    found = [
        await producer_events(js, stream, p.hub, p.node, p.service, min(published, emitted))
        for js, stream in streams
    ]
    events = merge(*found)
    _refuse_local_conflicts(p.node, p.service, events, local)
    events = [e for e in events if e.event.envelope.sequence > emitted]
    result = Recovery(p.service, emitted, events[-1].event.envelope.sequence if events else emitted)
    if not events:
        return result
    expected = list(range(emitted + 1, result.to_sequence + 1))
    if [e.event.envelope.sequence for e in events] != expected:
        missing = sorted(set(expected) - {e.event.envelope.sequence for e in events})
        raise RecoveryRefused(
            f"{p.node} {p.service}: sequences {missing[:5]} are in no stream read; nothing changed"
        )
    unknown = sorted({e.event.envelope.type for e in events} - set(restorers))
    if unknown:
        raise RecoveryRefused(
            f"{p.node} {p.service}: cannot restore {', '.join(unknown)} from events; nothing "
            "changed"
        )
    async with sessions() as session, session.begin():
        for stored in events:
            result.notes += await restorers[stored.event.envelope.type](session, stored.event)
            await session.execute(outbox.table.insert().values(_outbox_row(stored)))
        result.restored = len(events)
        resume_publishing = min(
            node_stream_last, result.to_sequence
        )  # what the node stream holds is not sent again
        result.republish = result.to_sequence - resume_publishing
        await _set_cursor(session, outbox, SEQUENCE, result.to_sequence)
        await _set_cursor(session, outbox, PUBLISHED, resume_publishing)
    return result


def _refuse_local_conflicts(
    node: str, service: str, events: list[StoredEvent], local: dict[int, str]
) -> None:
    """Writes taken after the restore, before the check refused them,
    reuse sequences the streams hold."""
    for stored in events:
        mine = local.get(stored.event.envelope.sequence)
        if mine is not None and mine != str(stored.event.envelope.event_id):
            raise RecoveryRefused(
                f"{node} {service}: sequence {stored.event.envelope.sequence} was written here "
                f"after the restore (event {mine}) but the streams hold event "
                f"{stored.event.envelope.event_id}; restore the database again, recover before "
                "accepting writes, then enter those writes again; nothing changed"
            )


def _outbox_row(stored: StoredEvent) -> dict[str, object]:
    env = stored.event.envelope
    return {
        "sequence": env.sequence,
        "event_id": str(env.event_id),
        "event_type": env.type,
        "subject": stored.subject,
        "body": stored.data,
        "traceparent": env.traceparent,
        "recorded_at": env.recorded_at,
    }


async def _set_cursor(session: AsyncSession, outbox: Outbox, name: str, position: int) -> None:
    await session.execute(
        update(outbox.cursor).where(outbox.cursor.c.name == name).values(position=position)
    )
