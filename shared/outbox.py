"""Transactional outbox: a service's state and the events it emits commit together.

``UnitOfWork.emit`` numbers each event from a gapless per-service counter and writes it to the
``outbox`` table in the caller's transaction; ``OutboxRelay`` (see ``shared.relay``) later
publishes rows in sequence order with the event id as ``Nats-Msg-Id``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from uuid import UUID

from opentelemetry import propagate
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.contracts import EventPayload, node_problems
from shared.envelope import Envelope, new_event_id, utcnow
from shared.errors import Invalid
from shared.subjects import event_subject

SEQUENCE = "sequence"
PUBLISHED = "published"


def add_outbox_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Add the ``outbox`` and ``outbox_cursor`` tables to a service's metadata."""
    outbox = Table(
        "outbox",
        metadata,
        Column(
            "sequence",
            BigInteger().with_variant(Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(80), nullable=False),
        Column("subject", String(255), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("traceparent", String(64)),
        Column("recorded_at", DateTime(timezone=True), nullable=False),
    )
    cursor = Table(
        "outbox_cursor",
        metadata,
        Column("name", String(20), primary_key=True),
        Column("position", BigInteger, nullable=False),
    )
    return outbox, cursor


OUTBOX_CURSORS = [{"name": SEQUENCE, "position": 0}, {"name": PUBLISHED, "position": 0}]
"""Rows every migration that creates ``outbox_cursor`` must insert."""


@dataclass(frozen=True)
class Producer:
    """Who is publishing: fixed per running service; `nodes`: the hub's nodes, the only ones a
    payload may name."""

    hub: str
    node: str
    service: str
    nodes: tuple[str, ...] = field(kw_only=True)


@dataclass(frozen=True)
class Outbox:
    """A service's outbox tables, bound to its producer identity."""

    producer: Producer
    table: Table
    cursor: Table


class UnitOfWork:
    """One business transaction: state changes plus emitted events,
    committed or rolled back together.

    Rolls back unless ``commit`` is called. ``on_commit`` wakes the relay so events leave promptly.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        on_commit: Callable[[], None] | None = None,
        correlation_id: UUID | None = None,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._on_commit = on_commit
        self.correlation_id = correlation_id or new_event_id()
        self.emitted: list[Envelope] = []

    def node_problems(self, payload: EventPayload) -> dict[str, str]:
        """What `emit` would refuse in `payload`'s node-naming fields (field → reason): for a use
        case that reports every bad field of a request at once, not one per attempt."""
        return node_problems(payload, self._outbox.producer.node, self._outbox.producer.nodes)

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        self.emitted = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back anything uncommitted but, unlike rollback(),
        # leaves loaded rows readable
        await self.session.close()

    async def emit(
        self,
        payload: EventPayload,
        *,
        occurred_at: datetime | None = None,
        causation_id: UUID | None = None,
    ) -> Envelope:
        """Append an event to the outbox inside the current transaction."""
        producer = self._outbox.producer
        if payload.service != producer.service:
            raise ValueError(
                f"{producer.service} may not emit {payload.service} event {payload.event_type}"
            )
        check_named_nodes(payload, producer)
        sequence = await self._next_sequence()
        now = utcnow()
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        envelope = Envelope(
            event_id=new_event_id(),
            type=payload.event_type,
            version=payload.version,
            hub=producer.hub,
            node=producer.node,
            service=producer.service,
            sequence=sequence,
            occurred_at=occurred_at or now,
            recorded_at=now,
            correlation_id=self.correlation_id,
            causation_id=causation_id,
            traceparent=carrier.get("traceparent"),
            payload=payload.model_dump(mode="json"),
        )
        await self.session.execute(
            self._outbox.table.insert().values(
                sequence=sequence,
                event_id=str(envelope.event_id),
                event_type=envelope.type,
                subject=event_subject(
                    producer.hub, producer.node, producer.service, envelope.type, envelope.version
                ),
                body=envelope.to_bytes(),
                traceparent=envelope.traceparent,
                recorded_at=now,
            )
        )
        self.emitted.append(envelope)
        return envelope

    async def commit(self) -> None:
        await self.session.commit()
        if self.emitted and self._on_commit is not None:
            self._on_commit()

    async def _next_sequence(self) -> int:
        """Take the next number; the row lock (PostgreSQL) or write lock
        (SQLite) keeps it gapless."""
        cursor = self._outbox.cursor
        result = await self.session.execute(
            update(cursor)
            .where(cursor.c.name == SEQUENCE)
            .values(position=cursor.c.position + 1)
            .returning(cursor.c.position)
        )
        return int(result.scalar_one())


def check_named_nodes(payload: EventPayload, producer: Producer) -> None:
    """Every write crosses here: a payload naming a node outside the hub's set (or another node's
    area where only the publisher's own may be named) is refused, field by field; nothing is
    written."""
    if problems := node_problems(payload, producer.node, producer.nodes):
        raise Invalid("not a node this write may name", problems)


async def read_cursor(session: AsyncSession, cursor: Table, name: str) -> int:
    return int(
        (await session.execute(select(cursor.c.position).where(cursor.c.name == name))).scalar_one()
    )
