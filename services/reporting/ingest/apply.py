"""Use cases of the reporting service: apply a batch of hub-stream messages exactly once.

At-least-once delivery becomes exactly-once effect: the ids of applied events are recorded in
the same transaction as the projection writes, so a redelivered event is recognised and skipped.
Messages that cannot be trusted (malformed, unknown type, forged, conflicting) are returned as
dead letters with their reason; they never stop the batch.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from opentelemetry import propagate, trace
from opentelemetry.util.types import AttributeValue
from sqlalchemy import select, tuple_
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting.ingest.bulk import execute, insert_many
from services.reporting.models import (
    HUB_POSITION,
    AppliedEventRow,
    IngestPositionRow,
    ProducerPositionRow,
)
from services.reporting.projections import Write, writes_for
from shared.contracts import NodeRule, named_nodes, node_problem
from shared.envelope import InvalidEvent, ReceivedEvent, parse_event
from shared.signing import NodeKeys
from shared.subjects import parse_event_subject

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    """One message as fetched from the hub stream (its headers carry the node's batch signature)."""

    subject: str
    data: bytes
    stream_seq: int
    headers: Mapping[str, str] | None = None


@dataclass
class IngestOutcome:
    applied: int = 0
    duplicates: int = 0
    dead: list[tuple[Incoming, str]] = field(default_factory=list)
    newest_recorded_at: datetime | None = None
    """When the newest event applied was recorded at its node (the projections' age)."""


@dataclass
class IngestTimings:
    """Where the live consumer's time has gone since it started, summed over batches (`hub bench`
    prints it per event): preparing (parse, check, project: no database), writing (the batch's
    transaction) and between batches (fetching, acknowledging and, on a quiet stream, waiting)."""

    batches: int = 0
    events: int = 0
    preparing: float = 0.0
    writing: float = 0.0
    between: float = 0.0
    _last_end: float | None = field(default=None, repr=False)

    def record(self, events: int, started: float, prepared: float, ended: float) -> None:
        """One batch's `time.perf_counter()` readings: arrived, prepared, written."""
        if self._last_end is not None:
            self.between += started - self._last_end
        self.batches += 1
        self.events += events
        self.preparing += prepared - started
        self.writing += ended - prepared
        self._last_end = ended


class PreparedEvent(NamedTuple):
    """What applying one event needs, worked out without the database (in this process or in a
    worker's: a tuple, so it crosses processes cheaply; `writes` None means "project it here")."""

    event_id: str
    digest: str
    node: str
    service: str
    sequence: int
    event_type: str
    version: int
    occurred_at: datetime
    recorded_at: datetime
    writes: list[Write] | None
    named: tuple[tuple[str, str, NodeRule], ...] = ()
    """The payload's node-naming fields: (field, node named, rule),
    checked against the hub's nodes."""


@dataclass(frozen=True)
class _Candidate:
    incoming: Incoming
    event: PreparedEvent


def check_message(msg: Incoming, hub: str, keys: NodeKeys | None) -> ReceivedEvent:
    """Parse a message and check it is what its subject and signature say;
    raise InvalidEvent if not."""
    event = parse_event(msg.data)
    env = event.envelope
    parts = parse_event_subject(msg.subject)
    if parts is None:
        raise InvalidEvent(f"subject {msg.subject!r} is not an event subject")
    claimed = {
        "hub": env.hub,
        "node": env.node,
        "service": env.service,
        "type": env.type,
        "version": str(env.version),
    }
    mismatched = [k for k, v in claimed.items() if parts[k] != v]
    if mismatched:
        k = mismatched[0]
        raise InvalidEvent(f"subject {k} {parts[k]!r} does not match envelope {k} {claimed[k]!r}")
    if env.hub != hub:
        raise InvalidEvent(f"event for hub {env.hub!r} arrived at hub {hub!r}")
    if event.payload.service != env.service:
        raise InvalidEvent(
            f"service {env.service!r} may not publish {env.type} (a {event.payload.service} event)"
        )
    if keys is not None and (problem := keys.problem(env, msg.data, msg.headers)):
        raise InvalidEvent(problem)
    return event


@dataclass(frozen=True)
class PreparedBatch:
    """A batch checked and projected, not yet written: everything that needs no database."""

    batch: Sequence[Incoming]
    candidates: dict[str, _Candidate]
    outcome: IngestOutcome


def prepare_message(
    msg: Incoming, hub: str, keys: NodeKeys | None, span: SpanOf | None = None
) -> PreparedEvent | str:
    """Check one message and work out its writes; the reason it cannot be trusted instead, if so.
    With `span`, the projection runs in a span made for the event (`apply_span`)."""
    try:
        event = check_message(msg, hub, keys)
    except InvalidEvent as exc:
        return exc.reason
    env = event.envelope
    return PreparedEvent(
        str(env.event_id),
        hashlib.sha256(msg.data).hexdigest(),
        env.node,
        env.service,
        env.sequence,
        env.type,
        env.version,
        env.occurred_at,
        env.recorded_at,
        _writes(event, msg, span),
        tuple(named_nodes(event.payload)) if event.payload.node_fields else (),
    )


def prepare_messages(
    batch: Sequence[Incoming], hub: str, keys: NodeKeys | None, tracer: trace.Tracer | None = None
) -> list[PreparedEvent | str]:
    """Each message prepared in this process, in order (each in a span, given a `tracer`: only
    when spans go somewhere, for a span costs about as much as parsing the event)."""
    if tracer is None:
        return [prepare_message(msg, hub, keys) for msg in batch]
    span = apply_span(tracer, len(batch))
    return [prepare_message(msg, hub, keys, span) for msg in batch]


def prepare_batch(
    batch: Sequence[Incoming],
    hub: str,
    keys: NodeKeys | None = None,
    tracer: trace.Tracer | None = None,
) -> PreparedBatch:
    """Check every message, drop in-batch duplicates and work out each event's writes."""
    return gather_prepared(batch, prepare_messages(batch, hub, keys, tracer))


def gather_prepared(
    batch: Sequence[Incoming], prepared: Iterable[PreparedEvent | str]
) -> PreparedBatch:
    """Pair each message with what was prepared of it, in order: refused ones become dead letters,
    in-batch duplicates are counted once, an id reused with other content is refused."""
    outcome = IngestOutcome()
    candidates: dict[str, _Candidate] = {}
    for msg, event in zip(batch, prepared, strict=True):
        if isinstance(event, str):
            outcome.dead.append((msg, event))
            continue
        seen = candidates.get(event.event_id)
        if seen is None:
            if event.writes is None:
                event = event._replace(writes=writes_for(parse_event(msg.data)))
            candidates[event.event_id] = _Candidate(msg, event)
        elif seen.event.digest == event.digest:
            outcome.duplicates += 1
        else:
            outcome.dead.append((msg, f"event id {event.event_id} reused with different content"))
    return PreparedBatch(batch, candidates, outcome)


def _writes(event: ReceivedEvent, msg: Incoming, span: SpanOf | None) -> list[Write]:
    if span is None:
        return writes_for(event)
    with span(event, msg):
        return writes_for(event)


async def apply_batch(
    prepared: PreparedBatch,
    sessions: async_sessionmaker[AsyncSession],
    nodes: Collection[str] | None = None,
) -> IngestOutcome:
    """Skip what was applied before, refuse what a node may not say (a payload naming a node outside
    `nodes`, the hub's, or another's area where its own is due; a sequence number already taken),
    write the rest and advance the position, in one transaction."""
    outcome = prepared.outcome
    candidates = dict(prepared.candidates)
    async with sessions() as session, session.begin():
        applied = await session.execute(
            select(AppliedEventRow.event_id, AppliedEventRow.digest).where(
                AppliedEventRow.event_id.in_(candidates)
            )
        )
        for event_id, digest in applied:
            candidate = candidates.pop(event_id)
            if candidate.event.digest == digest:
                outcome.duplicates += 1
            else:
                outcome.dead.append(
                    (
                        candidate.incoming,
                        f"event id {event_id} already applied with different content",
                    )
                )
        positions = await _producer_positions(session, candidates.values())
        fresh = _refuse_named_nodes(session, list(candidates.values()), nodes, positions, outcome)
        fresh = await _refuse_reused_sequences(session, fresh, positions, outcome)
        await session.flush()
        if fresh:
            try:
                async with session.begin_nested():
                    outcome.newest_recorded_at = await _apply(session, fresh)
                    outcome.applied += len(fresh)
            except (IntegrityError, DBAPIError) as exc:
                if not isinstance(exc, IntegrityError) and exc.connection_invalidated:
                    raise
                log.warning("batch rejected by the database (%s); applying one by one", exc.orig)
                outcome.applied += await _apply_one_by_one(session, fresh, outcome)
        await _advance_stream_position(session, prepared.batch)
    return outcome


async def _producer_positions(
    session: AsyncSession, candidates: Iterable[_Candidate]
) -> dict[tuple[str, str], ProducerPositionRow]:
    """The batch's producers' rows, in one query (they stay in the session for
    `_advance_producers`)."""
    keys = list({(c.event.node, c.event.service) for c in candidates})
    if not keys:
        return {}
    rows = await session.scalars(
        select(ProducerPositionRow).where(
            tuple_(ProducerPositionRow.node, ProducerPositionRow.service).in_(keys)
        )
    )
    return {(r.node, r.service): r for r in rows}


def _named_node_problem(e: PreparedEvent, nodes: Collection[str] | None) -> str | None:
    """Why a payload may not name the nodes it names, if so. A transfer to oneself already in the
    streams stays readable (nodes refuse new ones; the 360Giving export leaves them out)."""
    for name, named, rule in e.named:
        rule = NodeRule.HUB if rule == NodeRule.OTHER else NodeRule(rule)
        if why := node_problem(name, named, rule, e.node, nodes):
            return f"{e.event_type} {name}: {why} (published by {e.node!r})"
    return None


def _refuse_named_nodes(
    session: AsyncSession,
    fresh: list[_Candidate],
    nodes: Collection[str] | None,
    positions: dict[tuple[str, str], ProducerPositionRow],
    outcome: IngestOutcome,
) -> list[_Candidate]:
    kept = []
    for c in fresh:
        if c.event.named and (why := _named_node_problem(c.event, nodes)):
            outcome.dead.append((c.incoming, why))
            _position(session, positions, c.event).refused += 1
        else:
            kept.append(c)
    return kept


async def _refuse_reused_sequences(
    session: AsyncSession,
    fresh: list[_Candidate],
    positions: dict[tuple[str, str], ProducerPositionRow],
    outcome: IngestOutcome,
) -> list[_Candidate]:
    """A producer numbers its events without gaps or repeats: an event reusing a (node, service,
    sequence) already applied, or taken earlier in this batch, under another event id is refused.
    Only events at or below the producer's highest sequence are looked up (normally none)."""
    highest = {key: p.max_sequence for key, p in positions.items()}
    keys = [(c.event.node, c.event.service, c.event.sequence) for c in fresh]
    suspects = [k for k in keys if k[2] <= highest.get(k[:2], 0)]
    if not suspects and len(set(keys)) == len(keys):
        return fresh  # the usual batch: every sequence new, none twice
    taken: dict[tuple[str, str, int], str] = {}
    for start in range(0, len(suspects), 300):
        rows = await session.execute(
            select(
                AppliedEventRow.node,
                AppliedEventRow.service,
                AppliedEventRow.sequence,
                AppliedEventRow.event_id,
            ).where(
                tuple_(AppliedEventRow.node, AppliedEventRow.service, AppliedEventRow.sequence).in_(
                    suspects[start : start + 300]
                )
            )
        )
        taken.update({(n, s, q): event_id for n, s, q, event_id in rows})
    kept = []
    for c in fresh:
        e = c.event
        holder = taken.setdefault((e.node, e.service, e.sequence), e.event_id)
        if holder == e.event_id:
            kept.append(c)
            continue
        outcome.dead.append(
            (
                c.incoming,
                f"sequence {e.sequence} of {e.node}/{e.service} reused by event "
                f"{e.event_id}; applied as {holder}",
            )
        )
        _position(session, positions, e).reused += 1
    return kept


def _position(
    session: AsyncSession, positions: dict[tuple[str, str], ProducerPositionRow], e: PreparedEvent
) -> ProducerPositionRow:
    """A producer's row, made (with nothing applied yet) if this is the first the hub hears
    of it."""
    row = positions.get((e.node, e.service))
    if row is None:
        row = ProducerPositionRow(
            node=e.node,
            service=e.service,
            max_sequence=0,
            applied=0,
            reused=0,
            refused=0,
            last_event_id=e.event_id,
            last_recorded_at=e.recorded_at,
        )
        session.add(row)
        positions[(e.node, e.service)] = row
    return row


async def _apply_one_by_one(
    session: AsyncSession, fresh: list[_Candidate], outcome: IngestOutcome
) -> int:
    """Isolate the event(s) the database refuses, dead-letter them, apply the rest."""
    applied = 0
    for candidate in fresh:
        try:
            async with session.begin_nested():
                recorded = await _apply(session, [candidate])
                applied += 1
            newest = outcome.newest_recorded_at
            outcome.newest_recorded_at = max(newest, recorded) if newest else recorded
        except IntegrityError as exc:
            outcome.dead.append((candidate.incoming, f"rejected by projection: {exc.orig}"))
    return applied


async def _apply(session: AsyncSession, fresh: list[_Candidate]) -> datetime:
    """Write `fresh` and advance the chain; returns when the newest of them was recorded."""
    position = await session.get_one(IngestPositionRow, HUB_POSITION, with_for_update=True)
    writes: list[Write] = []
    applied_rows = []
    chain = position.chain_head
    for i, c in enumerate(fresh, start=1):
        e = c.event
        writes.extend(e.writes or ())
        chain = hashlib.sha256(f"{chain}{e.event_id}{e.digest}".encode()).hexdigest()
        applied_rows.append(
            {
                "event_id": e.event_id,
                "position": position.applied + i,
                "node": e.node,
                "service": e.service,
                "sequence": e.sequence,
                "event_type": e.event_type,
                "version": e.version,
                "stream_seq": c.incoming.stream_seq,
                "occurred_at": e.occurred_at,
                "recorded_at": e.recorded_at,
                "digest": e.digest,
                "chain_hash": chain,
            }
        )
    await execute(session, writes)
    await insert_many(session, AppliedEventRow.__table__, applied_rows)
    newest = await _advance_producers(session, fresh)
    position.applied += len(fresh)
    position.chain_head = chain
    await session.flush()
    return newest


async def _advance_producers(session: AsyncSession, fresh: list[_Candidate]) -> datetime:
    applied: dict[tuple[str, str], int] = {}
    newest: dict[tuple[str, str], PreparedEvent] = {}
    for c in fresh:
        e = c.event
        key = (e.node, e.service)
        applied[key] = applied.get(key, 0) + 1
        seen = newest.get(key)
        if seen is None or e.sequence > seen.sequence:
            newest[key] = e
    for (node, service), last in newest.items():
        row = await session.get(ProducerPositionRow, (node, service))
        if row is None:
            row = ProducerPositionRow(
                node=node,
                service=service,
                max_sequence=0,
                applied=0,
                reused=0,
                refused=0,
                last_event_id=last.event_id,
                last_recorded_at=last.recorded_at,
            )
            session.add(row)
        row.applied += applied[(node, service)]
        if last.sequence > row.max_sequence:
            row.max_sequence = last.sequence
            row.last_event_id = last.event_id
            row.last_recorded_at = last.recorded_at
    return max(e.recorded_at for e in newest.values())


async def _advance_stream_position(session: AsyncSession, batch: Sequence[Incoming]) -> None:
    if not batch:
        return
    position = await session.get_one(IngestPositionRow, HUB_POSITION)
    position.stream_seq = max(position.stream_seq, max(m.stream_seq for m in batch))


SpanOf = Callable[[ReceivedEvent, Incoming], AbstractContextManager[trace.Span]]


def apply_span(tracer: trace.Tracer, batch_size: int) -> SpanOf:
    """A consumer span per event of a batch of `batch_size`, parented to the trace of the request
    that wrote the event, saying which event it is and where it stands in the hub stream."""

    def span(event: ReceivedEvent, msg: Incoming) -> AbstractContextManager[trace.Span]:
        env = event.envelope
        parent = propagate.extract({"traceparent": env.traceparent}) if env.traceparent else None
        attributes: dict[str, AttributeValue] = {
            "hub.event.type": env.type,
            "hub.event.version": env.version,
            "hub.event.id": str(env.event_id),
            "hub.node": env.node,
            "hub.service": env.service,
            "hub.event.sequence": env.sequence,
            "hub.stream.sequence": msg.stream_seq,
            "messaging.batch.message_count": batch_size,
        }
        return tracer.start_as_current_span(
            f"apply {env.type}", context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes
        )

    return span
