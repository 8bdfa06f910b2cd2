"""Audit verification of a reporting database: the one implementation the CLI and dashboard share.

Offline, against a copy of the database: the hash chain over ``applied_event`` is recomputed
(``chain = sha256(prev + event_id + digest)`` from ``"0" * 64``) and compared row by row and with
``ingest_position.chain_head``; positions must run 1..n; every projection row must name an applied
event. With the hub stream as well: each applied event's digest is recomputed from the stream
message bytes (an altered stored event no longer matches), its node's signature is checked from
the message and its headers alone (given the node keys), its envelope must match the stored
columns, and the projections are replayed from those messages into a scratch database and
compared table by table, so an edited projection row is found too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import StaticPool

from services.reporting.ingest.bulk import execute
from services.reporting.models import HUB_POSITION, AppliedEventRow, IngestPositionRow, metadata
from services.reporting.projections import writes_for
from services.reporting.projections.writes import CHANGE_STAMP
from shared.db import create_engine, session_factory
from shared.envelope import InvalidEvent, parse_event
from shared.signing import NodeKeys

GENESIS = "0" * 64
BOOKKEEPING = {"applied_event", "producer_position", "ingest_position", "alembic_version"}
StreamMessage = tuple[bytes, Mapping[str, str] | None]
FetchMessage = Callable[[int], Awaitable[StreamMessage | None]]
"""Stream sequence → the message bytes and headers in the hub stream
(None when the stream no longer has it)."""


class AuditProblem(BaseModel):
    check: str
    detail: str
    event_id: str | None = None
    position: int | None = None


class AuditResult(BaseModel):
    """What was verified and what failed; ``ok`` only when every check ran clean."""

    ok: bool
    applied_events: int
    chain_head: str = Field(description="The chain head recomputed from the rows.")
    stored_chain_head: str
    stream_checked: bool = Field(
        description="Digests and projections were checked against the hub stream."
    )
    problems: list[AuditProblem]


def chain_step(prev: str, event_id: str, digest: str) -> str:
    """One link of the chain, exactly as ingest computes it."""
    return hashlib.sha256(f"{prev}{event_id}{digest}".encode()).hexdigest()


@dataclass
class _Audit:
    problems: list[AuditProblem] = field(default_factory=list)

    def fail(self, check: str, detail: str, row: AppliedEventRow | None = None) -> None:
        self.problems.append(
            AuditProblem(
                check=check,
                detail=detail,
                event_id=row.event_id if row else None,
                position=row.position if row else None,
            )
        )


async def verify(
    session: AsyncSession, fetch: FetchMessage | None = None, keys: NodeKeys | None = None
) -> AuditResult:
    """Verify the chain (and, given ``fetch``, the stored events, their signatures when ``keys`` are
    given, and the projections against the stream)."""
    audit = _Audit()
    rows = list(await session.scalars(select(AppliedEventRow).order_by(AppliedEventRow.position)))
    head = _verify_chain(rows, audit)
    position = await session.get(IngestPositionRow, HUB_POSITION)
    stored_head = position.chain_head if position else GENESIS
    if stored_head != head:
        audit.fail(
            "chain head",
            f"ingest_position.chain_head {stored_head} differs from the recomputed {head}",
        )
    if position is not None and position.applied != len(rows):
        audit.fail(
            "count",
            f"ingest_position.applied is {position.applied} but {len(rows)} events are stored",
        )
    await _verify_projection_references(session, {r.event_id for r in rows}, audit)
    if fetch is not None:
        messages = await _verify_against_stream(rows, fetch, keys, audit)
        await _verify_projections(session, messages, audit)
    return AuditResult(
        ok=not audit.problems,
        applied_events=len(rows),
        chain_head=head,
        stored_chain_head=stored_head,
        stream_checked=fetch is not None,
        problems=audit.problems,
    )


def _verify_chain(rows: list[AppliedEventRow], audit: _Audit) -> str:
    chain = GENESIS
    for expected, row in enumerate(rows, start=1):
        if row.position != expected:
            audit.fail(
                "position",
                f"position {row.position} where {expected} was expected (a row removed or added)",
                row,
            )
        chain = chain_step(chain, row.event_id, row.digest)
        if row.chain_hash != chain:
            audit.fail(
                "chain",
                f"stored chain hash {row.chain_hash} differs from the recomputed {chain}",
                row,
            )
            chain = (
                row.chain_hash
            )  # re-anchor so one altered row is reported once, not every row after it
    return chain


def projection_tables() -> list[Table]:
    """Every projection table, in a stable order."""
    return [t for name, t in sorted(metadata.tables.items()) if name not in BOOKKEEPING]


async def _verify_projection_references(
    session: AsyncSession, applied: set[str], audit: _Audit
) -> None:
    for table in projection_tables():
        for column in (c for c in table.c if c.name == "event_id" or c.name.endswith("_event_id")):
            for (event_id,) in await session.execute(
                select(column).where(column.is_not(None)).distinct()
            ):
                if event_id not in applied:
                    audit.fail(
                        "projection reference",
                        f"{table.name}.{column.name} names event {event_id}, "
                        "which was never applied",
                    )


_ENVELOPE_COLUMNS = {
    "node": "node",
    "service": "service",
    "event_type": "type",
    "version": "version",
    "sequence": "sequence",
}


async def _verify_against_stream(
    rows: list[AppliedEventRow], fetch: FetchMessage, keys: NodeKeys | None, audit: _Audit
) -> list[bytes]:
    messages = []
    for row in rows:
        message = await fetch(row.stream_seq)
        if message is None:
            audit.fail("stream", f"hub stream message {row.stream_seq} is not available", row)
            continue
        data, headers = message
        if hashlib.sha256(data).hexdigest() != row.digest:
            audit.fail(
                "digest", f"stored digest differs from the hub stream message {row.stream_seq}", row
            )
            continue
        try:
            env = parse_event(data).envelope
        except InvalidEvent as exc:
            audit.fail(
                "stream", f"hub stream message {row.stream_seq} does not parse: {exc.reason}", row
            )
            continue
        if keys is not None and (problem := keys.problem(env, data, headers)):
            audit.fail("signature", f"hub stream message {row.stream_seq}: {problem}", row)
        stored = {"event_id": row.event_id, **{c: getattr(row, c) for c in _ENVELOPE_COLUMNS}}
        actual = {
            "event_id": str(env.event_id),
            **{c: getattr(env, a) for c, a in _ENVELOPE_COLUMNS.items()},
        }
        for column, value in stored.items():
            if value != actual[column]:
                audit.fail(
                    "stored event",
                    f"applied_event.{column} is {value!r}, the event says {actual[column]!r}",
                    row,
                )
        messages.append(data)
    return messages


async def _verify_projections(session: AsyncSession, messages: list[bytes], audit: _Audit) -> None:
    """Replay the verified messages into a scratch in-memory database and compare every
    projection table."""
    engine = create_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with session_factory(engine)() as scratch, scratch.begin():
            for data in messages:
                await execute(scratch, writes_for(parse_event(data)))
            for table in projection_tables():
                mine = await _rows(session, table)
                replayed = await _rows(scratch, table)
                for row in sorted(mine - replayed):
                    audit.fail("projection", f"{table.name} row not produced by its events: {row}")
                for row in sorted(replayed - mine):
                    audit.fail("projection", f"{table.name} lacks a row its events produce: {row}")
    finally:
        await engine.dispose()


async def _rows(session: AsyncSession, table: Table) -> set[tuple[str, ...]]:
    """The table's rows as its events make them: without the change stamp, which records the
    batch that wrote a row (how events were batched), not what the events say."""
    columns = [c for c in table.c if c.name != CHANGE_STAMP]
    return {tuple(_plain(v) for v in row) for row in await session.execute(select(*columns))}


def _plain(value: Any) -> str:
    """Compare values across SQLite and PostgreSQL by their text (dates, decimals, JSON lists)."""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def stream_fetcher(js: Any, stream: str) -> FetchMessage:
    """Read hub stream messages by sequence with a JetStream context
    (``nats.js.JetStreamContext``)."""
    from nats.js.errors import NotFoundError

    async def fetch(seq: int) -> StreamMessage | None:
        try:
            msg = await js.get_msg(stream, seq)
        except NotFoundError:
            return None
        return bytes(msg.data or b""), msg.headers

    return fetch
