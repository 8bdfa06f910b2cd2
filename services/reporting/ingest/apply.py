"""Use cases of the reporting service: apply a batch of hub-stream messages exactly once.

At-least-once delivery becomes exactly-once effect: the ids of applied events are recorded in
the same transaction as the projection writes, so a redelivered event is recognised and skipped.
Messages that cannot be trusted (malformed, unknown type, forged, conflicting) are returned as
dead letters with their reason; they never stop the batch.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import NamedTuple

from opentelemetry import propagate, trace
from opentelemetry.util.types import AttributeValue
from sqlalchemy import bindparam, insert, select, tuple_, update
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
from services.reporting.projections.writes import stamp_writes
from shared.contracts import NodeRule, named_nodes, node_problem
from shared.envelope import InvalidEvent, Received, read_event
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
    prints it per event). Wall time preparing (parse, check, project: no database) and writing
    (the batch's transaction), which overlap where lanes prepare one batch while another is written
    (services/reporting/ingest/lanes.py); CPU time, which the machine's other load does not
    inflate, of this process (all its threads) from the first batch on, and of the lanes."""

    batches: int = 0
    events: int = 0
    """Events written (counted once their batch is)."""
    preparing: float = 0.0
    writing: float = 0.0
    consumer_cpu: float = 0.0
    lanes_cpu: float = 0.0
    _first: Clock | None = field(default=None, repr=False)

    def prepared(self, started: Clock, ended: Clock) -> None:
        """One batch prepared, between these two `clock()` readings."""
        if self._first is None:
            self._first = started
        self.preparing += ended[0] - started[0]

    def written(self, events: int, started: Clock, ended: Clock, lanes_cpu: float = 0.0) -> None:
        """One batch of `events` written between these readings; `lanes_cpu`: the lanes' CPU time
        so far."""
        if self._first is None:
            self._first = started
        self.batches += 1
        self.events += events
        self.writing += ended[0] - started[0]
        self.consumer_cpu = ended[1] - self._first[1]
        self.lanes_cpu = lanes_cpu


Clock = tuple[float, float]
"""A moment as wall time (`time.perf_counter`) and this process's CPU time (`time.process_time`)."""


def clock() -> Clock:
    return time.perf_counter(), time.process_time()


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


def check_message(msg: Incoming, hub: str, keys: NodeKeys | None) -> Received:
    """Read a message and check it is what its subject and signature say;
    raise InvalidEvent if not."""
    event = read_event(msg.data)
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
                event = event._replace(writes=writes_for(read_event(msg.data)))
            candidates[event.event_id] = _Candidate(msg, event)
        elif seen.event.digest == event.digest:
            outcome.duplicates += 1
        else:
            outcome.dead.append((msg, f"event id {event.event_id} reused with different content"))
    return PreparedBatch(batch, candidates, outcome)


def _writes(event: Received, msg: Incoming, span: SpanOf | None) -> list[Write]:
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
    write the rest and advance the positions, in one transaction.

    The usual batch is written as a whole, without a savepoint (each is a round trip or two, and
    nearly every batch is accepted): if the database refuses it, the transaction is rolled back and
    the batch written again one event at a time, each in a savepoint, so that the event the database
    refuses is dead-lettered and the rest applied. The positions (`ingest_position`,
    `producer_position`) are read once and written once a batch, as plain rows."""
    async with sessions() as session:
        try:
            async with session.begin():
                return await _apply_batch(session, prepared, nodes, one_by_one=False)
        except _BatchRefused as refused:
            log.warning("batch rejected by the database (%s); applying one by one", refused.reason)
        async with session.begin():
            return await _apply_batch(session, prepared, nodes, one_by_one=True)


class _BatchRefused(Exception):
    """The database refused a batch's writes (the transaction is rolled back)."""

    def __init__(self, reason: object) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Producer:
    """A producer's `producer_position` row as this batch finds and leaves it."""

    max_sequence: int
    applied: int
    reused: int
    refused: int
    last_event_id: str
    last_recorded_at: datetime
    stored: bool
    """Whether the row is in the database already (else it is inserted)."""
    changed: bool = False


@dataclass
class _Position:
    """The hub stream consumer's `ingest_position` row: stream sequence, events applied, chain."""

    stream_seq: int
    applied: int
    chain_head: str


async def _apply_batch(
    session: AsyncSession,
    prepared: PreparedBatch,
    nodes: Collection[str] | None,
    *,
    one_by_one: bool,
) -> IngestOutcome:
    outcome = replace(prepared.outcome, dead=list(prepared.outcome.dead))
    candidates = dict(prepared.candidates)
    producers = await _producers(session, candidates.values())
    for event_id, digest in await _applied_before(session, candidates, producers, one_by_one):
        candidate = candidates.pop(event_id)
        if candidate.event.digest == digest:
            outcome.duplicates += 1
        else:
            outcome.dead.append(
                (candidate.incoming, f"event id {event_id} already applied with different content")
            )
    fresh = _refuse_named_nodes(list(candidates.values()), nodes, producers, outcome)
    fresh = await _refuse_reused_sequences(session, fresh, producers, outcome)
    position = await _position(session, fresh)
    if fresh and not one_by_one:
        try:
            outcome.newest_recorded_at = await _apply(session, fresh, position, producers)
        except (IntegrityError, DBAPIError) as exc:
            if not isinstance(exc, IntegrityError) and exc.connection_invalidated:
                raise
            raise _BatchRefused(exc.orig) from exc
        outcome.applied += len(fresh)
    elif fresh:
        outcome.applied += await _apply_one_by_one(session, fresh, position, producers, outcome)
    if prepared.batch:
        position.stream_seq = max(position.stream_seq, max(m.stream_seq for m in prepared.batch))
    await _write_positions(session, position, producers)
    return outcome


async def _applied_before(
    session: AsyncSession,
    candidates: dict[str, _Candidate],
    producers: dict[tuple[str, str], _Producer],
    every_id: bool,
) -> Sequence[tuple[str, str]]:
    """(event id, digest) of the candidates applied before. A redelivered event carries the sequence
    it was applied with, at or below its producer's highest: the usual batch looks up only those
    (normally none). An id applied before and now reused under a higher sequence is refused by the
    table's key instead, and the batch written again one event at a time, which looks up every id
    (`every_id`) and gives the reason."""
    ids = [
        event_id
        for event_id, c in candidates.items()
        if every_id or c.event.sequence <= _highest(producers, c.event)
    ]
    if not ids:
        return []
    a = AppliedEventRow.__table__.c
    rows = await session.execute(select(a.event_id, a.digest).where(a.event_id.in_(ids)))
    return [(event_id, digest) for event_id, digest in rows]


def _highest(producers: dict[tuple[str, str], _Producer], e: PreparedEvent) -> int:
    row = producers.get((e.node, e.service))
    return row.max_sequence if row is not None else 0


async def _producers(
    session: AsyncSession, candidates: Iterable[_Candidate]
) -> dict[tuple[str, str], _Producer]:
    """The batch's producers' rows, in one query."""
    keys = list({(c.event.node, c.event.service) for c in candidates})
    if not keys:
        return {}
    p = ProducerPositionRow.__table__.c
    rows = await session.execute(
        select(
            p.node,
            p.service,
            p.max_sequence,
            p.applied,
            p.reused,
            p.refused,
            p.last_event_id,
            p.last_recorded_at,
        ).where(tuple_(p.node, p.service).in_(keys))
    )
    return {(r[0], r[1]): _Producer(*r[2:], stored=True) for r in rows}


async def _position(session: AsyncSession, fresh: list[_Candidate]) -> _Position:
    """The consumer's row (locked for the transaction when events are to be applied)."""
    t = IngestPositionRow.__table__.c
    query = select(t.stream_seq, t.applied, t.chain_head).where(t.name == HUB_POSITION)
    row = (await session.execute(query.with_for_update() if fresh else query)).one()
    return _Position(*row)


def _named_node_problem(e: PreparedEvent, nodes: Collection[str] | None) -> str | None:
    """Why a payload may not name the nodes it names, if so. A transfer to oneself already in the
    streams stays readable (nodes refuse new ones; the 360Giving export leaves them out)."""
    for name, named, rule in e.named:
        rule = NodeRule.HUB if rule == NodeRule.OTHER else NodeRule(rule)
        if why := node_problem(name, named, rule, e.node, nodes):
            return f"{e.event_type} {name}: {why} (published by {e.node!r})"
    return None


def _refuse_named_nodes(
    fresh: list[_Candidate],
    nodes: Collection[str] | None,
    producers: dict[tuple[str, str], _Producer],
    outcome: IngestOutcome,
) -> list[_Candidate]:
    kept = []
    for c in fresh:
        if c.event.named and (why := _named_node_problem(c.event, nodes)):
            outcome.dead.append((c.incoming, why))
            _producer(producers, c.event).refused += 1
        else:
            kept.append(c)
    return kept


async def _refuse_reused_sequences(
    session: AsyncSession,
    fresh: list[_Candidate],
    producers: dict[tuple[str, str], _Producer],
    outcome: IngestOutcome,
) -> list[_Candidate]:
    """A producer numbers its events without gaps or repeats: an event reusing a (node, service,
    sequence) already applied, or taken earlier in this batch, under another event id is refused.
    Only events at or below the producer's highest sequence are looked up (normally none)."""
    highest = {key: p.max_sequence for key, p in producers.items()}
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
        _producer(producers, e).reused += 1
    return kept


def _producer(producers: dict[tuple[str, str], _Producer], e: PreparedEvent) -> _Producer:
    """A producer's row, made (with nothing applied yet) if this is the first the hub hears
    of it; marked to be written."""
    row = producers.get((e.node, e.service))
    if row is None:
        row = producers[(e.node, e.service)] = _Producer(
            0, 0, 0, 0, e.event_id, e.recorded_at, stored=False
        )
    row.changed = True
    return row


async def _apply_one_by_one(
    session: AsyncSession,
    fresh: list[_Candidate],
    position: _Position,
    producers: dict[tuple[str, str], _Producer],
    outcome: IngestOutcome,
) -> int:
    """Isolate the event(s) the database refuses, dead-letter them, apply the rest."""
    applied = 0
    for candidate in fresh:
        kept = replace(position), {k: replace(p) for k, p in producers.items()}
        try:
            async with session.begin_nested():
                recorded = await _apply(session, [candidate], position, producers)
                applied += 1
            newest = outcome.newest_recorded_at
            outcome.newest_recorded_at = max(newest, recorded) if newest else recorded
        except IntegrityError as exc:  # as they were before it
            position.applied, position.chain_head = kept[0].applied, kept[0].chain_head
            producers.clear()
            producers.update(kept[1])
            outcome.dead.append((candidate.incoming, f"rejected by projection: {exc.orig}"))
    return applied


async def _apply(
    session: AsyncSession,
    fresh: list[_Candidate],
    position: _Position,
    producers: dict[tuple[str, str], _Producer],
) -> datetime:
    """Write `fresh` and advance the chain and the producers (in `position` and `producers`, written
    by `_write_positions`); returns when the newest of them was recorded."""
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
    await execute(session, stamp_writes(writes, position.applied + len(fresh)))
    await insert_many(session, AppliedEventRow.__table__, applied_rows)
    position.applied += len(fresh)
    position.chain_head = chain
    return _advance_producers(fresh, producers)


def _advance_producers(
    fresh: list[_Candidate], producers: dict[tuple[str, str], _Producer]
) -> datetime:
    applied: dict[tuple[str, str], int] = {}
    newest: dict[tuple[str, str], PreparedEvent] = {}
    for c in fresh:
        e = c.event
        key = (e.node, e.service)
        applied[key] = applied.get(key, 0) + 1
        seen = newest.get(key)
        if seen is None or e.sequence > seen.sequence:
            newest[key] = e
    for key, last in newest.items():
        row = _producer(producers, last)
        row.applied += applied[key]
        if last.sequence > row.max_sequence:
            row.max_sequence = last.sequence
            row.last_event_id = last.event_id
            row.last_recorded_at = last.recorded_at
    return max(e.recorded_at for e in newest.values())


_PRODUCER_COLUMNS = (
    "max_sequence",
    "applied",
    "reused",
    "refused",
    "last_event_id",
    "last_recorded_at",
)
_PRODUCER_UPDATE = (
    update(ProducerPositionRow.__table__)
    .where(
        ProducerPositionRow.__table__.c.node == bindparam("k_node"),
        ProducerPositionRow.__table__.c.service == bindparam("k_service"),
    )
    .values({c: bindparam(f"v_{c}") for c in _PRODUCER_COLUMNS})
)


async def _write_positions(
    session: AsyncSession, position: _Position, producers: dict[tuple[str, str], _Producer]
) -> None:
    """The consumer's row and the producers' rows that changed, one statement each kind."""
    t = IngestPositionRow.__table__
    await session.execute(update(t).where(t.c.name == HUB_POSITION).values(asdict(position)))
    changed = [(key, p) for key, p in producers.items() if p.changed]
    updated = [
        {"k_node": key[0], "k_service": key[1]}
        | {f"v_{c}": getattr(p, c) for c in _PRODUCER_COLUMNS}
        for key, p in changed
        if p.stored
    ]
    if updated:
        await session.execute(_PRODUCER_UPDATE, updated)
    inserted = [
        {"node": key[0], "service": key[1]} | {c: getattr(p, c) for c in _PRODUCER_COLUMNS}
        for key, p in changed
        if not p.stored
    ]
    if inserted:
        await session.execute(insert(ProducerPositionRow.__table__), inserted)


SpanOf = Callable[[Received, Incoming], AbstractContextManager[trace.Span]]


def apply_span(tracer: trace.Tracer, batch_size: int) -> SpanOf:
    """A consumer span per event of a batch of `batch_size`, parented to the trace of the request
    that wrote the event, saying which event it is and where it stands in the hub stream."""

    def span(event: Received, msg: Incoming) -> AbstractContextManager[trace.Span]:
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
