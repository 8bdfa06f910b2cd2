"""Every hub-wide view by name, with one set of parameters: what the HTTP routes, the CLI and the
exports all call, so a figure is the same wherever it is read. Also the annual data return to
ACE."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting.models.activities import ActivityView
from services.reporting.read.charts import (
    ChartOf,
    budget_chart,
    inclusion_chart,
    progression_chart,
    reach_chart,
    schools_chart,
)
from services.reporting.read.params import Filters, ViewParams
from services.reporting.read.queries import (
    HubReport,
    ProducerHealth,
    ReportStamp,
    data_health,
    hub_report,
    report_stamp,
)
from services.reporting.read.versioned import per_version
from services.reporting.read.view_names import VIEW_SUMMARIES
from services.reporting.read.views.accountability import (
    WcetFigures,
    activities_of,
    inclusion_report,
    partnerships_report,
    progression_report,
    pupil_records,
    schools_report,
)
from services.reporting.read.views.activities import Dimension, Reach, ReachRow, reach
from services.reporting.read.views.allocation import allocation_report, annual_money
from services.reporting.read.views.evidence import evidence
from services.reporting.read.views.evidence_accountability import HUB
from services.reporting.read.views.funding import load_ledger
from services.reporting.read.views.pupils import INDEX_COLUMNS, PROFILE_COLUMNS
from services.reporting.read.views.rows import Characteristic
from services.reporting.read.views.transparency import transparency_report
from shared.auth import Scope

View = Callable[[AsyncSession, ViewParams], Awaitable[BaseModel]]


@dataclass(frozen=True)
class ViewSpec:
    name: str
    summary: str
    scope: Scope
    """Who may read it (shared/auth.py): NODE views narrow to one node for node staff; HUB views
    list every node side by side; PUBLISHED ones suppress small counts."""
    run: View
    chart: ChartOf | None = None
    """What its dashboard page draws beside its tables (services/reporting/read/charts.py);
    None: tables only."""


class ReachReport(BaseModel):
    stamp: ReportStamp
    academic_year: str
    node: str | None
    unique_pupils: int
    participations: int
    headcount: int
    breakdowns: dict[str, Reach] = Field(
        description="The same figures by area (pupil's own), kind, level, year group and node."
    )


async def reach_report(session: AsyncSession, p: ViewParams) -> ReachReport:
    """Hub-wide or one node's reach; narrowed by area,
    function or aim it is grouped from pupil records."""
    f = p.filters
    if f.area or f.function or f.aim:
        by = {d: await filtered_reach(session, p, d) for d in get_args(Dimension)}
    else:
        # every dimension from the year's records, read once (views/activities.reach)
        await pupil_records(session, p.period, Filters(node=f.node), INDEX_COLUMNS)
        by = {d: await reach(session, p.period, d, f.node) for d in get_args(Dimension)}
    total = by["area"]
    return ReachReport(
        stamp=await report_stamp(session),
        academic_year=p.period,
        node=p.filters.node,
        unique_pupils=total.unique_pupils,
        participations=total.participations,
        headcount=total.headcount,
        breakdowns=by,
    )


_RECORD_KEY: dict[str, Callable[[Any], str | None]] = {
    "area": lambda r: r.p.home_area,
    "kind": lambda r: r.a.kind,
    "level": lambda r: r.a.level,
    "year_group": lambda r: r.p.year_group,
    "node": lambda r: r.p.node,
    "partner": lambda r: r.a.delivered_by,
}
_ACTIVITY_KEY: dict[str, Callable[[Any], str | None]] = {
    "area": lambda a: a.area,
    "kind": lambda a: a.kind,
    "level": lambda a: a.level,
    "node": lambda a: a.node,
    "partner": lambda a: a.delivered_by,
}


async def filtered_reach(session: AsyncSession, p: ViewParams, by: str) -> Reach:
    """The reach figures (same definitions as views/activities.reach) over filtered
    pupil records."""
    records = await pupil_records(session, p.period, p.filters, INDEX_COLUMNS)
    activities = await activities_of(session, p.period, p.filters)
    groups: dict[str | None, list[Any]] = {}
    for r in records:
        groups.setdefault(_RECORD_KEY[by](r), []).append(r)
    rows = {
        k: ReachRow(
            group=k,
            unique_pupils=len({r.p.pseudonym for r in v}),
            participations=len(v),
            headcount=None if by == "year_group" else 0,
        )
        for k, v in groups.items()
    }
    if by in _ACTIVITY_KEY:
        for a in activities:
            row = rows.setdefault(
                _ACTIVITY_KEY[by](a),
                ReachRow(
                    group=_ACTIVITY_KEY[by](a), unique_pupils=0, participations=0, headcount=0
                ),
            )
            row.headcount = (row.headcount or 0) + a.headcount
    return Reach(
        academic_year=p.period,
        by=by,
        unique_pupils=len({r.p.pseudonym for r in records}),
        participations=len(records),
        headcount=sum(a.headcount for a in activities),
        rows=sorted(rows.values(), key=lambda r: (r.group is None, r.group or "")),
    )


class DataHealthReport(BaseModel):
    stamp: ReportStamp
    producers: list[ProducerHealth]


async def data_health_report(session: AsyncSession, p: ViewParams) -> DataHealthReport:
    return DataHealthReport(stamp=await report_stamp(session), producers=await data_health(session))


class KindFigures(BaseModel):
    kind: str
    activities: int
    hours: Decimal
    headcount: int
    unique_pupils: int
    participations: int


class AnnualReturn(BaseModel):
    """The annual hub data return to ACE for an academic year,
    in its categories (docs/reporting.md)."""

    stamp: ReportStamp
    hub: str
    academic_year: str
    schools_and_settings: dict[str, object] = Field(
        description="Schools worked with (by URN) and the state-funded share per area."
    )
    whole_class_ensemble_teaching: WcetFigures
    wcet_terms: list[str]
    delivery_by_kind: list[KindFigures] = Field(
        description="Tuition, ensembles, singing, exams, CPD, loans, events, early years..."
    )
    progression: dict[str, object]
    pupil_characteristics: list[Characteristic]
    workforce: str = "not recorded in the system: supply from HR records"
    governance: dict[str, object]
    income_by_source_pence: dict[str, int]
    spend_by_function_pence: dict[str, int]
    leverage_ratio: Decimal | None


async def delivery_by_kind(session: AsyncSession, p: ViewParams) -> list[KindFigures]:
    """Activities, hours, headcounts, unique pupils and participations of each kind of activity:
    records and activities grouped by kind in one pass each, not filtered again for every kind."""
    records = await pupil_records(session, p.period, p.filters, INDEX_COLUMNS)
    activities = await activities_of(session, p.period, p.filters)
    pupils: defaultdict[str, list[str]] = defaultdict(list)
    for r in records:
        pupils[r.a.kind].append(r.p.pseudonym)
    delivered: defaultdict[str, list[ActivityView]] = defaultdict(list)
    for a in activities:
        delivered[a.kind].append(a)
    return [
        KindFigures(
            kind=kind,
            activities=len(delivered[kind]),
            hours=sum((a.hours for a in delivered[kind]), Decimal(0)),
            headcount=sum(a.headcount for a in delivered[kind]),
            unique_pupils=len(set(pupils[kind])),
            participations=len(pupils[kind]),
        )
        for kind in sorted(delivered.keys() | pupils.keys())
    ]


async def annual_return(session: AsyncSession, p: ViewParams) -> AnnualReturn:
    """One structured document from the system; money for the same academic year."""
    # the year's pupils read once, in the columns its parts count (schools and inclusion: the
    # widest; the money part and the kinds of delivery: fewer); not every column, which none reads
    await pupil_records(session, p.period, p.filters, PROFILE_COLUMNS)
    schools = await schools_report(session, p.period, p.filters)
    inclusion = await inclusion_report(session, p.period, p.filters)
    progression = await progression_report(session, p.period, p.filters)
    partners = await partnerships_report(session, p.period, p.today, p.filters)
    money = await annual_money(session, p.period, p.filters)
    activities = await activities_of(session, p.period, p.filters)
    return AnnualReturn(
        stamp=schools.stamp,
        hub=p.hub,
        academic_year=p.period,
        schools_and_settings={
            "engaged_schools": schools.engaged_schools,
            "engaged_urns": schools.engaged_urns,
            "areas": schools.areas,  # models: their figures stay numbers in exports
        },
        whole_class_ensemble_teaching=schools.wcet,
        wcet_terms=sorted({a.term for a in activities if a.kind == "wcet" and a.term}),
        delivery_by_kind=await delivery_by_kind(session, p),
        progression={
            "pupils_by_level": progression.pupils_by_level,
            "moved_up": progression.moved_up,
            "ensemble_members": progression.ensemble_members,
            "ensembles": len(progression.ensembles),
            "advanced_pupils": progression.advanced_pupils,
        },
        pupil_characteristics=inclusion.characteristics,
        governance={
            "active_partners": partners.active_partners,
            "active_by_role": partners.active_by_role,
            "returns_by_status": partners.returns_by_status,
        },
        income_by_source_pence=money.income_by_source_pence,
        spend_by_function_pence={a.key: a.amount_pence for a in money.spend_by_function},
        leverage_ratio=money.leverage_ratio,
    )


async def _summary(session: AsyncSession, p: ViewParams) -> HubReport:
    return await hub_report(session, p.hub, p.nodes)


async def _transparency(session: AsyncSession, p: ViewParams) -> BaseModel:
    return await transparency_report(session, p, p.threshold)


N, H, P = Scope.NODE, Scope.HUB, Scope.PUBLISHED


def _spec(name: str, scope: Scope, run: View, chart: ChartOf | None = None) -> ViewSpec:
    return ViewSpec(name, VIEW_SUMMARIES[name], scope, run, chart)


VIEWS: dict[str, ViewSpec] = {
    v.name: v
    for v in (
        _spec("summary", H, _summary),
        _spec("reach", N, reach_report, reach_chart),
        _spec(
            "schools",
            N,
            lambda s, p: schools_report(s, p.period, p.filters),
            lambda r: schools_chart(r.areas),
        ),
        _spec(
            "inclusion",
            N,
            lambda s, p: inclusion_report(s, p.period, p.filters),
            lambda r: inclusion_chart(r.characteristics),
        ),
        _spec(
            "progression",
            N,
            lambda s, p: progression_report(s, p.period, p.filters),
            progression_chart,
        ),
        _spec("partnerships", N, lambda s, p: partnerships_report(s, p.period, p.today, p.filters)),
        _spec(
            "funding",
            N,
            lambda s, p: allocation_report(s, p.kind, p.period, p.filters),
            lambda r: budget_chart(r.budget),
        ),
        _spec("data-health", H, data_health_report),
        _spec("annual-return", N, annual_return),
        _spec("transparency", P, _transparency),
    )
}


def view_scope(name: str) -> Scope:
    """A view's scope; an unknown name is answered 404 by the route,
    so it asks for no more than a node."""
    return VIEWS[name].scope if name in VIEWS else Scope.NODE


async def run_view(
    session: AsyncSession, name: str, params: ViewParams, *, shared: bool = False
) -> BaseModel:
    """The view at the session's data version: computed once per version and parameters (the HTTP
    routes, dashboard pages and exports of one figure share it). `shared=True` for callers that
    only read the result (no copy is made)."""
    if name not in VIEWS:
        raise KeyError(f"no view {name!r}; views: {', '.join(VIEWS)}")
    return await per_version(
        session,
        ("view", name, repr(params)),
        lambda: VIEWS[name].run(session, params),
        shared=shared,
    )


R = TypeVar("R", bound=BaseModel)


async def run_view_as(
    session: AsyncSession, name: str, params: ViewParams, result: type[R], *, shared: bool = False
) -> R:
    """`run_view` for a caller that reads the fields of one view's result: a view whose result
    type changes fails here, by name, rather than as an attribute error in a page."""
    found = await run_view(session, name, params, shared=shared)
    if not isinstance(found, result):
        raise TypeError(f"view {name!r} gives {type(found).__name__}, not {result.__name__}")
    return found


async def warm_views(
    sessions: async_sessionmaker[AsyncSession], hub: str, nodes: list[str], period: str
) -> None:
    """Compute every view hub-wide for `period`, the hub summary, the ledger and the events behind
    the hub's unique pupils (the trace the overview and the reach view link to), in one read
    transaction: the views and the trace share its pupil records, read once. What a manager opens
    first."""
    p = ViewParams(hub=hub, nodes=nodes, period=period)
    async with sessions() as session:
        for name in VIEWS:
            await run_view(session, name, p)
        await hub_report(session, hub, nodes)
        await load_ledger(session)
        await evidence(session, "pupils", HUB, period)


def with_filters(params: ViewParams, **filters: str | None) -> ViewParams:
    return replace(params, filters=Filters(**filters))
