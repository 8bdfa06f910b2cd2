"""Funding allocation for a period: income and leverage, allocations, commissions, spend, budget,
what remains, unit costs and capital. Built on the ledger of views/funding.py; exact pence."""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models import ActivityView, FundingFlowView
from services.reporting.models.activities import ParticipationView
from services.reporting.read.params import Filters
from services.reporting.read.queries import ReportStamp, report_stamp
from services.reporting.read.views.accountability import activities_of, pupil_records
from services.reporting.read.views.funding import (
    SPEND,
    AssetLine,
    BudgetLine,
    Ledger,
    PeriodSummary,
    SourceFigures,
    _original,
    asset_register,
    budget_vs_actual,
    period_ledger,
    sources,
    summarise,
)
from services.reporting.read.views.partners import commission_keys
from services.reporting.read.views.pupils import held_pupil_records
from shared.periods import PeriodKind, parse_period

DFE = "dfe_grant"


class Amount(BaseModel):
    key: str
    amount_pence: int


class UnitCosts(BaseModel):
    """Spend (commissions and expenditure) of the academic year divided by its delivery."""

    spend_pence: int
    participations: int
    unique_pupils: int
    hours: Decimal
    per_participant_pence: int | None
    per_unique_pupil_pence: int | None
    per_hour_pence: int | None


class AllocationReport(BaseModel):
    stamp: ReportStamp
    kind: str
    period: str
    income_by_source_pence: dict[str, int]
    dfe_grant_pence: int
    other_income_pence: int
    leverage_ratio: Decimal | None = Field(
        description="Other income per pound of DfE grant (2 d.p.); None without grant."
    )
    allocations_to_leads: list[Amount] = Field(
        description="Allocations between nodes, keyed 'from → to'."
    )
    commissions_to_partners: list[Amount] = Field(
        description="By organisation: an org-id's name, else the partner's "
        "name and its node (one organisation per node)."
    )
    spend_by_function: list[Amount]
    spend_by_area: list[Amount]
    spend_by_category: list[Amount]
    budget: list[BudgetLine]
    remaining_by_source: list[SourceFigures] = Field(
        description="Every source as it stands now (not period-bound)."
    )
    unit_costs: UnitCosts
    capital_items: list[AssetLine]


def divide(pence: int, by: int | Decimal) -> int | None:
    """Pence per unit, rounded half up to the penny; None when there are no units."""
    if not by:
        return None
    return int((Decimal(pence) / Decimal(by)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def only_node(ledger: Ledger, node: str | None) -> Ledger:
    if node is None:
        return ledger
    keep = {k: v for k, v in ledger.entries.items() if k[0] == node}
    filtered = Ledger(
        keep,
        {k: v for k, v in ledger.links.items() if k[0] == node},
        {k: v for k, v in ledger.reversal_count.items() if k[0] == node},
        {k: v for k, v in ledger.drawn_from.items() if k[0] == node},
    )
    return filtered


def flows_in_period(
    ledger: Ledger, kind: PeriodKind, name: str, *kinds: str
) -> list[tuple[FundingFlowView, int]]:
    """(original entry, signed amount) for entries of `kinds`
    (and their reversals) dated in the period."""
    period = parse_period(name, kind)
    out = []
    for e in ledger.entries.values():
        original = _original(ledger, e)
        if original is not None and original.kind in kinds and period.contains(e.entry_on):
            out.append((original, e.sign * e.amount_pence))
    return out


def _totals(pairs: list[tuple[str, int]]) -> list[Amount]:
    sums: dict[str, int] = defaultdict(int)
    for key, amount in pairs:
        sums[key] += amount
    return [Amount(key=k, amount_pence=v) for k, v in sorted(sums.items()) if v]


class AnnualMoney(BaseModel):
    """What the annual return shows of a year's money (as `allocation_report` gives it)."""

    income_by_source_pence: dict[str, int]
    leverage_ratio: Decimal | None
    spend_by_function: list[Amount]


def _leverage(dfe: int, other: int) -> Decimal | None:
    return (Decimal(other) / dfe).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) if dfe else None


async def _period_money(
    session: AsyncSession, kind: PeriodKind, name: str, filters: Filters
) -> tuple[Ledger, PeriodSummary, list[tuple[FundingFlowView, int]]]:
    period = parse_period(name, kind)
    ledger = only_node(await period_ledger(session, period.starts_on, period.ends_on), filters.node)
    return ledger, summarise(ledger, kind, name), flows_in_period(ledger, kind, name, *SPEND)


async def annual_money(
    session: AsyncSession, year: str, filters: Filters = Filters()
) -> AnnualMoney:
    """The academic year's income by source, leverage and spend by function, without the rest of
    the allocation report (every source's figures, budget, commissions, capital, unit costs),
    which the annual return does not show."""
    _, summary, spend = await _period_money(session, "academic", year, filters)
    dfe = summary.income_by_source.get(DFE, 0)
    other = sum(v for k, v in summary.income_by_source.items() if k != DFE)
    return AnnualMoney(
        income_by_source_pence=summary.income_by_source,
        leverage_ratio=_leverage(dfe, other),
        spend_by_function=_totals([(e.function or "unattributed", a) for e, a in spend]),
    )


async def allocation_report(
    session: AsyncSession, kind: PeriodKind, name: str, filters: Filters = Filters()
) -> AllocationReport:
    """The money side of management accounts for one period."""
    ledger, summary, spend = await _period_money(session, kind, name, filters)
    dfe = summary.income_by_source.get(DFE, 0)
    other = sum(v for k, v in summary.income_by_source.items() if k != DFE)
    budget = [
        b
        for b in await budget_vs_actual(session, kind, name)
        if filters.node is None or b.node == filters.node
    ]
    names = await commission_keys(session)
    return AllocationReport(
        stamp=await report_stamp(session),
        kind=kind,
        period=summary.period,
        income_by_source_pence=summary.income_by_source,
        dfe_grant_pence=dfe,
        other_income_pence=other,
        leverage_ratio=_leverage(dfe, other),
        allocations_to_leads=_totals(
            [
                (f"{e.node} → {e.counterpart_node}", a)
                for e, a in flows_in_period(ledger, kind, name, "allocation")
            ]
        ),
        commissions_to_partners=_totals(
            [(names.key(e), a) for e, a in spend if e.kind == "commission"]
        ),
        spend_by_function=_totals([(e.function or "unattributed", a) for e, a in spend]),
        spend_by_area=_totals([(e.area or "unattributed", a) for e, a in spend]),
        spend_by_category=_totals([(e.category or e.kind, a) for e, a in spend]),
        budget=budget,
        remaining_by_source=[
            s for s in await sources(session) if filters.node is None or s.node == filters.node
        ],
        unit_costs=await unit_costs(session, ledger, name if kind == "academic" else None, filters),
        capital_items=[
            a
            for a in await asset_register(session)
            if filters.node is None or a.node == filters.node
        ],
    )


async def unit_costs(
    session: AsyncSession, ledger: Ledger, year: str | None, filters: Filters
) -> UnitCosts:
    """Cost per participation, unique pupil and hour of the academic year
    (only for academic periods)."""
    if year is None:
        return UnitCosts(
            spend_pence=0,
            participations=0,
            unique_pupils=0,
            hours=Decimal(0),
            per_participant_pence=None,
            per_unique_pupil_pence=None,
            per_hour_pence=None,
        )
    spent = sum(a for _, a in flows_in_period(ledger, "academic", year, *SPEND))
    held = held_pupil_records(session, year, filters, ("pseudonym",))
    if held is not None or filters.function is not None or filters.aim is not None:
        # the records this transaction holds (the annual return read them first: counting them is
        # cheaper than SQL's distinct count); function and aim are kept in activities' JSON
        # lists: filtered in Python
        records = held if held is not None else await pupil_records(session, year, filters)
        participations, pupils = len(records), len({r.p.pseudonym for r in records})
        hours = sum((a.hours for a in await activities_of(session, year, filters)), Decimal(0))
    else:
        participations, pupils = await _delivery_counts(session, year, filters)
        hours = await _hours(session, year, filters)
    return UnitCosts(
        spend_pence=spent,
        participations=participations,
        unique_pupils=pupils,
        hours=hours,
        per_participant_pence=divide(spent, participations),
        per_unique_pupil_pence=divide(spent, pupils),
        per_hour_pence=divide(spent, hours),
    )


async def _delivery_counts(session: AsyncSession, year: str, filters: Filters) -> tuple[int, int]:
    """Participations and unique pupils of the year, counted in SQL: the records `pupil_records`
    gives (live participations of the year whose activity is recorded, whatever year it records)
    without reading them into Python."""
    p, a = ParticipationView, ActivityView
    query = (
        select(func.count(), func.count(p.pseudonym.distinct()))
        .select_from(p)
        .join(a, (a.node == p.node) & (a.activity_id == p.activity_id))
        .where(p.academic_year == year, p.withdrawn.is_(False))
    )
    if filters.node is not None:
        query = query.where(p.node == filters.node)
    if filters.area is not None:
        query = query.where(p.home_area == filters.area)
    participations, pupils = (await session.execute(query)).one()
    return int(participations), int(pupils)


async def _hours(session: AsyncSession, year: str, filters: Filters) -> Decimal:
    """Hours of the year's activities (`activities_of`), summed exactly here: SQLite sums
    decimals as floats."""
    a = ActivityView
    query = select(a.hours).where(a.academic_year == year)
    if filters.node is not None:
        query = query.where(a.node == filters.node)
    if filters.area is not None:
        query = query.where(a.area == filters.area)
    return sum(await session.scalars(query), Decimal(0))
