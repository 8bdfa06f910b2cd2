"""Read models: the questions consortium management and auditors ask, answered from projections."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Boolean, Dialect, Executable, Select, Table, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import NullType

from services.reporting.models import (
    HUB_POSITION,
    ActivityView,
    FundingEntryView,
    IngestPositionRow,
    OrganisationView,
    ProducerPositionRow,
)
from services.reporting.read.versioned import once_per_version

T = TypeVar("T")


async def per_transaction(
    session: AsyncSession, key: tuple[str, ...], load: Callable[[], Awaitable[T]]
) -> T:
    """Read once per transaction (one read snapshot), so a view that needs the same rows several
    times (the annual return) reads them once; a later transaction of the session reads afresh."""
    await session.connection()  # begun here, so loads nested in `load` share this transaction
    transaction = session.sync_session.get_transaction()
    held: tuple[Any, dict[tuple[str, ...], Any]] | None = session.info.get("per_transaction")
    if held is None or held[0] is not transaction:
        held = (transaction, {})
        session.info["per_transaction"] = held  # before `load`: what it reads itself is kept too
    if key not in held[1]:
        held[1][key] = await load()
    loaded: T = held[1][key]
    return loaded


def held_in_transaction(session: AsyncSession, key: tuple[str, ...]) -> Any:
    """What `per_transaction` holds under `key` for the session's current transaction (None if
    nothing), without reading anything."""
    transaction = session.sync_session.get_transaction()
    held: tuple[Any, dict[tuple[str, ...], Any]] | None = session.info.get("per_transaction")
    if transaction is None or held is None or held[0] is not transaction:
        return None
    return held[1].get(key)


def row_type(table: Table) -> type[Any]:
    """A light row class with a table's column names: Core rows without ORM identity tracking,
    several times cheaper to load than mapped objects and read the same way (``row.column``)."""
    return namedtuple(f"{table.name}_row", [c.name for c in table.c])


async def rows_decoded_once(session: AsyncSession, query: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of `query` as tuples, each column's values converted by its type (dates, decimals,
    JSON) once per distinct stored value rather than once per row: a year's activities repeat a
    few hundred dates and a few JSON lists. Rows holding equal JSON text share one decoded list:
    read them, never change them. SQLite only (its driver hands back the stored text); other
    databases: SQLAlchemy's rows as they come."""
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        return [tuple(row) for row in await session.execute(query)]
    columns = list(query.selected_columns)
    stored = query.with_only_columns(*(type_coerce(c, NullType()) for c in columns))
    rows = await _driver_rows(session, stored)
    processors = _processors(query, dialect)
    if not rows or not processors:
        return rows
    values = [list(c) for c in zip(*rows, strict=True)]
    for i, process in processors:
        decoded = {v: process(v) for v in set(values[i])}
        values[i] = list(map(decoded.__getitem__, values[i]))
    return list(zip(*values, strict=True))


async def plain_rows(
    session: AsyncSession, query: Select[Any], *, flags_as_stored: bool = False
) -> Sequence[Any]:
    """The rows of `query`. On SQLite, where no column's type converts what the driver hands back
    (text and integers), the driver's own tuples: SQLAlchemy's row object for each costs more than
    SQLite's read of it. Otherwise SQLAlchemy's rows (its conversion, in C, beats converting the
    columns apart for a table of many rows). `flags_as_stored`: the caller's rows turn a flag into
    a bool when it is read (views/year_rows.py), so SQLite's 0 or 1 needs no conversion here."""
    dialect = session.get_bind().dialect
    if dialect.name == "sqlite" and not _processors(query, dialect, flags_as_stored):
        return await _driver_rows(session, query)
    rows: Sequence[Any] = (await session.execute(query)).all()
    return rows


def _processors(
    query: Select[Any], dialect: Dialect, flags_as_stored: bool = False
) -> list[tuple[int, Callable[[Any], Any]]]:
    """Each selected column's conversion of the values the driver hands back, where it has one
    (none for a flag, with `flags_as_stored`)."""
    return [
        (i, process)
        for i, column in enumerate(query.selected_columns)
        if not (flags_as_stored and isinstance(column.type, Boolean))
        and (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
    ]


async def _driver_rows(session: AsyncSession, query: Executable) -> list[tuple[Any, ...]]:
    """The rows as the driver's own tuples, taken from its cursor, unconverted: SQLAlchemy's row
    object for each costs more than SQLite's read of it."""
    result = await session.execute(query)
    cursor = getattr(result, "cursor", None)
    if cursor is None:  # not a plain cursor's result: SQLAlchemy's rows
        return [tuple(row) for row in result]
    rows: list[tuple[Any, ...]] = cursor.fetchall()
    result.close()
    return rows


class ReportStamp(BaseModel):
    """The stream position a report reflects, so a published figure can be reproduced later."""

    hub_stream_seq: int
    applied_events: int
    chain_head: str


class NodeFigures(BaseModel):
    node: str
    organisations: int = 0
    activities: int = 0
    headcount: int = 0
    hours: Decimal = Decimal(0)
    income_pence: int = 0
    allocated_out_pence: int = Field(
        default=0, description="Allocated to other nodes, as this node recorded it."
    )
    allocated_in_pence: int = Field(
        default=0,
        description=(
            "Received from other nodes, as this node recorded it (its receipts), never what "
            "senders say they sent."
        ),
    )


class HubReport(BaseModel):
    hub: str
    stamp: ReportStamp
    nodes: list[NodeFigures]
    totals: NodeFigures = Field(
        description=(
            "Hub-wide totals (node = 'hub'); organisations are distinct (by org-id) across nodes."
        )
    )


class ProducerHealth(BaseModel):
    node: str
    service: str
    last_sequence: int
    applied: int
    missing: int = Field(
        description="Sequence numbers not yet received: a gap or events in flight (never negative)."
    )
    reused: int = Field(
        default=0,
        description=(
            "Events that reused a sequence number already applied under another event id: "
            "dead-lettered (applied before reporting checked, where they outnumber the sequence; "
            "`hub rebuild` refuses those too)."
        ),
    )
    refused: int = Field(
        default=0,
        description=(
            "Events dead-lettered for the nodes they name: outside the hub's, or another node's "
            "area where their own is due."
        ),
    )
    last_recorded_at: datetime


async def report_stamp(session: AsyncSession) -> ReportStamp:
    pos = await session.get_one(IngestPositionRow, HUB_POSITION)
    return ReportStamp(
        hub_stream_seq=pos.stream_seq, applied_events=pos.applied, chain_head=pos.chain_head
    )


def stamp_header(stamp: ReportStamp) -> str:
    """The stamp as one header value, for responses whose body cannot carry it
    (lists, CSV, XLSX)."""
    return (
        f"hub_stream_seq={stamp.hub_stream_seq}; applied_events={stamp.applied_events}; "
        f"chain_head={stamp.chain_head}"
    )


@once_per_version
async def hub_report(session: AsyncSession, hub: str, nodes: list[str]) -> HubReport:
    """Per-node and hub-wide figures from every service: the slice every later view grows from."""
    figures = {node: NodeFigures(node=node) for node in nodes}

    def node(name: str) -> NodeFigures:
        return figures.setdefault(name, NodeFigures(node=name))

    for name, count in await session.execute(
        select(OrganisationView.node, func.count()).group_by(OrganisationView.node)
    ):
        node(name).organisations = count
    for name, count, heads, hours in await session.execute(
        select(
            ActivityView.node,
            func.count(),
            func.sum(ActivityView.headcount),
            func.sum(ActivityView.hours),
        ).group_by(ActivityView.node)
    ):
        f = node(name)
        f.activities, f.headcount, f.hours = count, int(heads or 0), Decimal(hours or 0)
    for name, kind, _counterparty, amount in await session.execute(
        select(
            FundingEntryView.node,
            FundingEntryView.kind,
            FundingEntryView.counterparty,
            func.sum(FundingEntryView.amount_pence),
        ).group_by(FundingEntryView.node, FundingEntryView.kind, FundingEntryView.counterparty)
    ):
        if kind == "income":
            node(name).income_pence += int(amount)
        elif kind == "allocation":
            node(name).allocated_out_pence += int(amount)
        elif (
            kind == "received"
        ):  # what the node recorded receiving, never what a sender says it sent
            node(name).allocated_in_pence += int(amount)
    rows = sorted(figures.values(), key=lambda f: f.node)
    totals = NodeFigures(
        node="hub",
        organisations=await _distinct_organisations(session),
        activities=sum(f.activities for f in rows),
        headcount=sum(f.headcount for f in rows),
        hours=sum((f.hours for f in rows), Decimal(0)),
        income_pence=sum(f.income_pence for f in rows),
        allocated_out_pence=sum(f.allocated_out_pence for f in rows),
        allocated_in_pence=sum(f.allocated_in_pence for f in rows),
    )
    return HubReport(hub=hub, stamp=await report_stamp(session), nodes=rows, totals=totals)


async def _distinct_organisations(session: AsyncSession) -> int:
    """Hub-wide, one real organisation registered by several nodes (same org-id) counts once."""
    identity = func.coalesce(
        OrganisationView.org_id, OrganisationView.node + "/" + OrganisationView.organisation_id
    )
    return int(await session.scalar(select(func.count(func.distinct(identity)))) or 0)


async def data_health(session: AsyncSession) -> list[ProducerHealth]:
    """Per producer: the last event received, how many sequence numbers are missing, and, apart from
    them, how many events reused a sequence number or were refused for the nodes they name."""
    rows = await session.scalars(
        select(ProducerPositionRow).order_by(ProducerPositionRow.node, ProducerPositionRow.service)
    )
    return [
        ProducerHealth(
            node=r.node,
            service=r.service,
            last_sequence=r.max_sequence,
            applied=r.applied,
            missing=max(0, r.max_sequence - r.applied),
            reused=r.reused + max(0, r.applied - r.max_sequence),
            refused=r.refused,
            last_recorded_at=r.last_recorded_at,
        )
        for r in rows
    ]
