"""Reach and partner returns, read from the activities projections.

Pupils are counted by pseudonym, so a pupil in several activities, or at several nodes, is one
pupil; pupils are attributed to their own area (``home_area``), whoever delivered the activity,
while headcounts belong to the area where the activity took place.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date
from operator import attrgetter
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models.activities import (
    ActivityView,
    ParticipationView,
    PartnerReturnView,
    ReturnExpectedView,
)
from services.reporting.read.params import Filters
from services.reporting.read.queries import per_transaction
from services.reporting.read.versioned import once_per_version
from services.reporting.read.views.pupils import (
    INDEX_COLUMNS,
    PupilRecord,
    held_pupil_records,
    pupil_records,
    years_held,
)

Dimension = Literal["area", "kind", "level", "year_group", "node", "partner"]
Year = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="Academic year, e.g. 2024-25.")]
ReturnStatus = Literal["received", "late", "missing", "due", "unexpected"]

_PUPIL_COLUMN: dict[str, Any] = {
    "area": ParticipationView.home_area,
    "kind": ActivityView.kind,
    "level": ActivityView.level,
    "year_group": ParticipationView.year_group,
    "node": ParticipationView.node,
    "partner": ActivityView.delivered_by,
}
_PUPIL_GROUP: dict[str, tuple[int, Callable[[Any], str | None]]] = {
    # (0: the participation, 1: its activity) and the attribute a pupil is grouped by
    "area": (0, attrgetter("home_area")),
    "kind": (1, attrgetter("kind")),
    "level": (1, attrgetter("level")),
    "year_group": (0, attrgetter("year_group")),
    "node": (0, attrgetter("node")),
    "partner": (1, attrgetter("delivered_by")),
}
_ACTIVITY_GROUP: dict[str, Any] = {
    "area": ActivityView.area,
    "kind": ActivityView.kind,
    "level": ActivityView.level,
    "node": ActivityView.node,
    "partner": ActivityView.delivered_by,
}


class ReachRow(BaseModel):
    group: str | None
    unique_pupils: int = Field(
        description="Distinct pupils (by pseudonym) with a recorded participation."
    )
    participations: int = Field(
        description="Pupil-activity records (a pupil in two activities counts twice)."
    )
    headcount: int | None = Field(
        description="Sum of activity headcounts (None where not meaningful, e.g. year group)."
    )


class Reach(BaseModel):
    academic_year: str
    by: Dimension
    unique_pupils: int
    participations: int
    headcount: int
    rows: list[ReachRow]


class ReturnRow(BaseModel):
    node: str
    partner_id: str
    academic_year: str
    due_on: date | None
    submitted_on: date | None
    status: ReturnStatus


def _live_participations(year: str) -> Any:
    return (
        select()
        .select_from(ParticipationView)
        .join(
            ActivityView,
            (ActivityView.node == ParticipationView.node)
            & (ActivityView.activity_id == ParticipationView.activity_id),
        )
        .where(ParticipationView.academic_year == year, ParticipationView.withdrawn.is_(False))
    )


@once_per_version
async def reach(session: AsyncSession, year: str, by: Dimension, node: str | None = None) -> Reach:
    """Unique pupils, participations and headcounts for a year, grouped by one dimension
    (one node's delivery, or all): from the year's pupil records where this transaction has read
    them (a report of every dimension reads them first: once, rather than a distinct count by SQL
    for each dimension), else by SQL (for one dimension alone, cheaper than reading the year)."""
    records = held_pupil_records(session, year, Filters(node=node), INDEX_COLUMNS)
    if records is None and years_held(session):  # read once, then only what changed
        records = await pupil_records(session, year, Filters(node=node), INDEX_COLUMNS)
    if records is None:
        total_pupils, total_parts, rows = await _counted_by_sql(session, year, by, node)
    else:
        total_pupils, total_parts, rows = await _counted(session, records, year, by, node)
    heads = func.coalesce(func.sum(ActivityView.headcount), 0)
    in_year = ActivityView.academic_year == year
    if node is not None:
        in_year = in_year & (ActivityView.node == node)
    total_heads = int(
        (
            await per_transaction(
                session,
                ("headcount", year, node or ""),
                lambda: _one(session, select(heads).where(in_year)),
            )
        )[0]
    )
    if by in _ACTIVITY_GROUP:
        column = _ACTIVITY_GROUP[by]
        for key, count in await session.execute(
            select(column, heads).where(in_year).group_by(column)
        ):
            row = rows.setdefault(
                key, ReachRow(group=key, unique_pupils=0, participations=0, headcount=0)
            )
            row.headcount = int(count)
    ordered = sorted(rows.values(), key=lambda r: (r.group is None, r.group or ""))
    return Reach(
        academic_year=year,
        by=by,
        unique_pupils=total_pupils,
        participations=total_parts,
        headcount=total_heads,
        rows=ordered,
    )


async def _counted_by_sql(
    session: AsyncSession, year: str, by: Dimension, node: str | None
) -> tuple[int, int, dict[str | None, ReachRow]]:
    pupils = func.count(ParticipationView.pseudonym.distinct())
    base = _live_participations(year)
    if node is not None:
        base = base.where(ParticipationView.node == node)
    (
        total_pupils,
        total_parts,
    ) = await per_transaction(  # the same for every dimension of a report: read once
        session,
        ("reach totals", year, node or ""),
        lambda: _one(session, base.add_columns(pupils, func.count())),
    )
    group = _PUPIL_COLUMN[by]
    rows = {
        key: ReachRow(
            group=key,
            unique_pupils=n,
            participations=c,
            headcount=None if by == "year_group" else 0,
        )
        for key, n, c in await session.execute(
            base.add_columns(group, pupils, func.count()).group_by(group)
        )
    }
    return total_pupils, total_parts, rows


async def _counted(
    session: AsyncSession, records: list[PupilRecord], year: str, by: Dimension, node: str | None
) -> tuple[int, int, dict[str | None, ReachRow]]:
    """The same counts as `_counted_by_sql`, grouped in Python over the year's pupil records."""
    total_pupils, total_parts = await per_transaction(  # the same for every dimension: once
        session, ("reach totals of records", year, node or ""), lambda: _totals(records)
    )
    side, group_of = _PUPIL_GROUP[by]
    grouped: defaultdict[str | None, list[str]] = defaultdict(list)
    for record in records:
        grouped[group_of(record[side])].append(record.p.pseudonym)
    rows = {
        group: ReachRow(
            group=group,
            unique_pupils=len(set(pupils)),
            participations=len(pupils),
            headcount=None if by == "year_group" else 0,
        )
        for group, pupils in grouped.items()
    }
    return total_pupils, total_parts, rows


async def _totals(records: list[PupilRecord]) -> tuple[int, int]:
    """Distinct pupils (by pseudonym) and participations of the records."""
    return len({r.p.pseudonym for r in records}), len(records)


async def _one(session: AsyncSession, query: Any) -> tuple[Any, ...]:
    return tuple((await session.execute(query)).one())


def return_status(due_on: date | None, submitted_on: date | None, today: date) -> ReturnStatus:
    if due_on is None:
        return "unexpected"
    if submitted_on is not None:
        return "received" if submitted_on <= due_on else "late"
    return "missing" if today > due_on else "due"


async def partner_returns(session: AsyncSession, year: str, today: date) -> list[ReturnRow]:
    """Every expected or received partner return of a year, hub-wide, with its status."""
    expected = {
        (r.node, r.partner_id): r.due_on
        for r in await session.scalars(
            select(ReturnExpectedView).where(ReturnExpectedView.academic_year == year)
        )
    }
    received: dict[tuple[str, str], date] = {}
    for r in await session.scalars(
        select(PartnerReturnView).where(PartnerReturnView.academic_year == year)
    ):
        key = (r.node, r.partner_id)
        received[key] = min(received.get(key, r.submitted_on), r.submitted_on)
    return [
        ReturnRow(
            node=node,
            partner_id=partner,
            academic_year=year,
            due_on=expected.get((node, partner)),
            submitted_on=received.get((node, partner)),
            status=return_status(
                expected.get((node, partner)), received.get((node, partner)), today
            ),
        )
        for node, partner in sorted(set(expected) | set(received))
    ]
