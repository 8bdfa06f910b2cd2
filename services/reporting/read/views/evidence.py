"""The events behind a figure: every projection row keeps the event that wrote it, so a figure
expands into applied events (id, node, type, time, stream position, amount or count) whose
amounts or counts add up to the figure itself."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ARRAY, ColumnElement, String, any_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models import AppliedEventRow, FundingBudgetView, FundingFlowView
from services.reporting.read.params import Filters
from services.reporting.read.queries import ReportStamp, report_stamp
from services.reporting.read.versioned import per_version
from services.reporting.read.views import evidence_accountability as accountability
from services.reporting.read.views.accountability import activities_of, pupil_records
from services.reporting.read.views.allocation import flows_in_period
from services.reporting.read.views.evidence_accountability import HUB, Found, pupil_events
from services.reporting.read.views.funding import SPEND, _original, load_ledger
from services.reporting.read.views.partners import CommissionKeys, commission_keys, partner_identity
from services.reporting.read.views.pupils import INDEX_COLUMNS
from shared.auth import Ask, Scope
from shared.periods import PeriodKind, parse_period

EvidenceView = Literal[
    "pupils",
    "headcount",
    "wcet",
    "income",
    "spend",
    "allocation",
    "commission",
    "budget",
    "schools",
    "inclusion",
    "progression",
    "continuation",
    "partners",
]
MONEY_EVIDENCE: frozenset[str] = frozenset(
    {"income", "spend", "allocation", "commission", "budget"}
)
"""The evidence of money figures: traced in a year with ledger entries, not one with delivery."""
ACCOUNTABILITY = {
    "schools": accountability.schools,
    "inclusion": accountability.inclusion,
    "progression": accountability.progression,
    "continuation": accountability.continuation,
    "partners": accountability.partners,
}

KEY_NAMES: dict[str, str] = {
    "pupils": "area",
    "wcet": "area",
    "headcount": "area",
    "allocation": "node",
    "budget": "node",
}
"""What each evidence's key names, for the access policy (shared/auth.py): an area, or a node
(budget: node/function/area); node staff may expand their own. Other evidence, and 'hub' keys, add
up every node's events (their figures are not split by node): hub scope."""


EVENT_COLUMNS = (*INDEX_COLUMNS, "event_id")
"""What the pupil evidence reads of each participation: the index's columns and its event."""

NARROWED = frozenset({"pupils", "wcet", "headcount"})
"""Evidence that can be narrowed to one node's delivery (as the views narrow by `node`)."""


def evidence_ask(view: str, key: str) -> Ask:
    """What expanding `view`/`key` reads: an area's events (node staff: those their own node
    recorded), a node's, or the whole hub's."""
    names = KEY_NAMES.get(view)
    if names is None or not key or key.split("/")[0] == HUB:
        return Ask(scope=Scope.HUB)
    return (
        Ask(area=key, own_by_default=view in NARROWED)
        if names == "area"
        else Ask(node=key.split("/")[0])
    )


class EvidenceEvent(BaseModel):
    event_id: str
    node: str
    event_type: str
    occurred_at: datetime
    dated_on: date | None = Field(
        default=None,
        description="When what it records happened: an activity's first day of delivery, a "
        "ledger entry's date; None where the event has none (the register).",
    )
    position: int
    stream_seq: int
    amount_pence: int | None = None
    count: int | None = None


class Evidence(BaseModel):
    stamp: ReportStamp
    view: str
    key: str
    period: str
    figure: int = Field(description="The figure as the view reports it.")
    unit: str
    total: int = Field(
        description="Sum of the events' amounts or counts; equals figure for money and headcounts."
    )
    distinct: int | None = Field(
        default=None,
        description="Distinct pupils, schools or partners the events name: "
        "equals figure where the figure counts distinct things.",
    )
    note: str = ""
    events: list[EvidenceEvent]


async def evidence(
    session: AsyncSession,
    view: EvidenceView,
    key: str,
    period: str,
    kind: PeriodKind = "academic",
    node: str | None = None,
) -> Evidence:
    """Expand one figure of a view into the applied events that make it up (pupils, WCET and
    headcounts: of one node's delivery when `node` is given, as the views' node filter counts them);
    once per data version (the result is shared, not copied: callers only read it)."""
    parse_period(period, kind)
    node = node if view in NARROWED else None
    return await per_version(
        session,
        ("evidence", view, key, period, kind, node),
        lambda: _evidence(session, view, key, period, kind, node),
        shared=True,
    )


async def _evidence(
    session: AsyncSession,
    view: EvidenceView,
    key: str,
    period: str,
    kind: PeriodKind,
    node: str | None,
) -> Evidence:
    found = await _find(session, view, key, period, kind, node)
    dated = found.dated or await _ledger_dates(session, found.parts)
    events = await _applied(session, found.parts, dated, money=found.unit == "pence")
    total = sum((e.amount_pence if found.unit == "pence" else e.count) or 0 for e in events)
    return Evidence(
        stamp=await report_stamp(session),
        view=view,
        key=key,
        period=period,
        figure=found.figure,
        unit=found.unit,
        total=total,
        distinct=found.distinct,
        note=found.note,
        events=events,
    )


async def _find(
    session: AsyncSession,
    view: EvidenceView,
    key: str,
    period: str,
    kind: PeriodKind,
    node: str | None = None,
) -> Found:
    if view in ("pupils", "wcet"):
        return await _pupils(session, view, key, period, node)
    if view == "headcount":
        rows = [
            a
            for a in await activities_of(session, period, Filters(node=node))
            if key in (HUB, a.area)
        ]
        return Found(
            sum(a.headcount for a in rows),
            {a.event_id: a.headcount for a in rows},
            "pupils",
            dated={a.event_id: a.starts_on for a in rows},
        )
    if view == "budget":
        return await _budget(session, key, kind, period)
    if view in ACCOUNTABILITY:
        return await ACCOUNTABILITY[view](session, key, period)
    return await _money(session, view, key, kind, period)


async def _pupils(
    session: AsyncSession, view: str, key: str, period: str, node: str | None = None
) -> Found:
    records = [
        r
        for r in await pupil_records(session, period, Filters(node=node), EVENT_COLUMNS)
        if key in (HUB, r.p.home_area) and (view == "pupils" or r.a.kind == "wcet")
    ]
    return pupil_events(records, len({r.p.pseudonym for r in records}))


def _label(view: str, entry: FundingFlowView, names: CommissionKeys) -> str:
    """The key a money view groups an entry under (as views/allocation.py does)."""
    if view == "commission":
        return names.key(entry)
    return {
        "income": entry.source or "other",
        "spend": entry.function or "unattributed",
        "allocation": entry.counterpart_node or "",
    }[view]


async def _money(
    session: AsyncSession, view: str, key: str, kind: PeriodKind, period: str
) -> Found:
    ledger = await load_ledger(session)
    kinds = {
        "income": ("income",),
        "spend": SPEND,
        "allocation": ("allocation",),
        "commission": ("commission",),
    }[view]
    period_obj = parse_period(period, kind)
    keeps = await _keeps(session, view, key)
    parts: dict[str, int] = defaultdict(int)
    for e in ledger.entries.values():
        original = _original(ledger, e)
        if (
            original is not None
            and original.kind in kinds
            and period_obj.contains(e.entry_on)
            and keeps(original)
        ):
            parts[e.event_id] += e.sign * e.amount_pence
    figure = sum(a for o, a in flows_in_period(ledger, kind, period, *kinds) if keeps(o))
    return Found(figure, dict(parts), "pence")


async def _keeps(session: AsyncSession, view: str, key: str) -> Callable[[FundingFlowView], bool]:
    """Which entries a key names: `hub`, a view's label, or for commissions a partner's organisation
    id (the partner page's figure: its own registration, or its org-id hub-wide; never a name)."""
    if view == "commission" and (who := await partner_identity(session, key)) is not None:
        return who.commissioned
    names = await commission_keys(session)
    return lambda entry: key in (HUB, _label(view, entry, names))


async def _budget(session: AsyncSession, key: str, kind: PeriodKind, period: str) -> Found:
    """key = node/function/area: the budget event (its amount) and the actual spend events."""
    node, function, area = key.split("/")
    budget = await session.scalar(
        select(FundingBudgetView).where(
            FundingBudgetView.node == node,
            FundingBudgetView.period_kind == kind,
            FundingBudgetView.period == period,
            FundingBudgetView.function == function,
            FundingBudgetView.area == area,
        )
    )
    ledger = await load_ledger(session)
    parts: dict[str, int] = defaultdict(int)
    p = parse_period(period, kind)
    for e in ledger.entries.values():
        original = _original(ledger, e)
        if (
            original is not None
            and original.kind in SPEND
            and e.node == node
            and p.contains(e.entry_on)
            and (original.function or "") == function
            and (original.area or "") == area
        ):
            parts[e.event_id] += e.sign * e.amount_pence
    actual = sum(parts.values())
    note = (
        f"actual {actual}p from the spend events; budget {budget.amount_pence if budget else 0}p "
        f"set by event {budget.event_id if budget else '(none)'}"
    )
    return Found(actual, dict(parts), "pence", note)


async def _ledger_dates(session: AsyncSession, parts: dict[str, int]) -> dict[str, date]:
    """The dates of the ledger entries the events recorded (money and budget evidence)."""
    return {
        e.event_id: e.entry_on
        for e in (await load_ledger(session)).entries.values()
        if e.event_id in parts
    }


def _one_of(session: AsyncSession, column: ColumnElement[str], values: list[str]) -> Any:
    """`column` is one of `values`, in a single parameter (a hub-wide pupil count names ~50k
    events, and SQLAlchemy makes a parameter for each value of `in_`, which asyncpg refuses past
    32,767): on SQLite one JSON array unpacked by the database, on PostgreSQL one text array;
    elsewhere the list itself."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return column.in_(select(func.json_each(json.dumps(values)).table_valued("value").c.value))
    if dialect == "postgresql":
        return column == any_(literal(values, ARRAY(String)))
    return column.in_(values)


async def _applied(
    session: AsyncSession, parts: dict[str, int], dated: dict[str, date], money: bool
) -> list[EvidenceEvent]:
    if not parts:
        return []
    applied = AppliedEventRow.__table__.c  # plain rows: a hub-wide pupil count names ~50k events
    rows = await session.execute(
        select(
            applied.event_id,
            applied.node,
            applied.event_type,
            applied.occurred_at,
            applied.position,
            applied.stream_seq,
        )
        .where(_one_of(session, applied.event_id, list(parts)))
        .order_by(applied.position)
    )
    return [
        EvidenceEvent(
            event_id=r.event_id,
            node=r.node,
            event_type=r.event_type,
            occurred_at=r.occurred_at,
            dated_on=dated.get(r.event_id),
            position=r.position,
            stream_seq=r.stream_seq,
            amount_pence=parts[r.event_id] if money else None,
            count=None if money else parts[r.event_id],
        )
        for r in rows
    ]
