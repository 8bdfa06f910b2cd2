"""What the dashboard needs beyond the catalogue of views: the lists its filters offer, and a
partner's own figures (the views do not filter by partner). Read-only queries on the projections."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models.activities import ActivityView
from services.reporting.models.partners import OrganisationView, SettingView
from services.reporting.read.params import Filters
from services.reporting.read.versioned import per_version
from services.reporting.read.views.accountability import pupil_records
from services.reporting.read.views.allocation import flows_in_period, only_node
from services.reporting.read.views.funding import load_ledger
from services.reporting.read.views.partners import partner_identity
from shared.periods import PeriodKind


async def areas(session: AsyncSession) -> list[str]:
    """Local authority areas named by activities or the settings register, read once per data
    version (every page's filters list them; shared: callers only read it)."""
    return await per_version(session, ("dashboard areas",), lambda: _areas(session), shared=True)


async def _areas(session: AsyncSession) -> list[str]:
    found = set(await session.scalars(select(ActivityView.area).distinct()))
    found |= set(await session.scalars(select(SettingView.area).distinct()))
    return sorted(found)


@dataclass(frozen=True)
class Partner:
    organisation_id: str
    node: str
    name: str
    org_id: str | None
    roles: list[str]
    areas: list[str]
    state: str | None

    @classmethod
    def of(cls, o: OrganisationView) -> Partner:
        return cls(
            o.organisation_id,
            o.node,
            o.name,
            o.org_id,
            list(o.roles or []),
            list(o.areas or []),
            o.state,
        )


async def partners(
    session: AsyncSession, node: str | None = None, offset: int = 0, limit: int | None = None
) -> list[Partner]:
    query = (
        select(OrganisationView)
        .order_by(OrganisationView.name, OrganisationView.node)
        .offset(offset)
        .limit(limit)
    )
    if node:
        query = query.where(OrganisationView.node == node)
    return [Partner.of(o) for o in await session.scalars(query)]


async def partner_choices(session: AsyncSession, node: str | None, limit: int) -> list[Partner]:
    """The first `limit` partners by name (of one node, or all): every page's partner filter,
    read once per data version (shared: callers only read it)."""
    return await per_version(
        session,
        ("partner choices", node, limit),
        lambda: partners(session, node, limit=limit),
        shared=True,
    )


async def partner_count(session: AsyncSession, node: str | None = None) -> int:
    query = select(func.count()).select_from(OrganisationView)
    if node:
        query = query.where(OrganisationView.node == node)
    return int(await session.scalar(query) or 0)


async def partner(session: AsyncSession, organisation_id: str) -> Partner | None:
    found = await session.scalars(
        select(OrganisationView).where(OrganisationView.organisation_id == organisation_id)
    )
    o = found.first()
    return None if o is None else Partner.of(o)


@dataclass
class PartnerFigures:
    partner: Partner
    activities: list[ActivityView] = field(default_factory=list)
    unique_pupils: int = 0
    participations: int = 0
    hours: Decimal = Decimal(0)
    commissioned_pence: int = 0
    commissions: list[tuple[str, str, int]] = field(default_factory=list)
    """(node, entry id, signed pence) of commissions to the partner dated in the period."""


async def partner_figures(
    session: AsyncSession, partner: Partner, period: str, kind: PeriodKind, filters: Filters
) -> PartnerFigures:
    """Delivery in the academic year (as the pupil views count it) and commissions in the period, of
    the partner's own registration or its org-id hub-wide (views/partners.PartnerIdentity), never by
    name."""
    figures = PartnerFigures(partner)
    who = await partner_identity(session, partner.organisation_id)
    if who is None:
        return figures
    records = [
        r
        for r in await pupil_records(session, period, filters)
        if who.delivered(r.a.node, r.a.delivered_by)
    ]
    figures.unique_pupils = len({r.p.pseudonym for r in records})
    figures.participations = len(records)
    ids = sorted({organisation_id for _, organisation_id in who.registrations})
    query = (
        select(ActivityView)
        .where(ActivityView.delivered_by.in_(ids), ActivityView.academic_year == period)
        .order_by(ActivityView.starts_on)
    )
    figures.activities = [
        a
        for a in await session.scalars(query)
        if who.delivered(a.node, a.delivered_by)
        and filters.keeps_activity(a)
        and (filters.area is None or a.area == filters.area)
    ]
    figures.hours = sum((a.hours for a in figures.activities), Decimal(0))
    ledger = only_node(await load_ledger(session), filters.node)
    for e, pence in flows_in_period(ledger, kind, period, "commission"):
        if who.commissioned(e):
            figures.commissions.append((e.node, e.entry_id, pence))
    figures.commissioned_pence = sum(p for _, _, p in figures.commissions)
    return figures


@dataclass(frozen=True)
class PartnerYear:
    """One academic year of a partner's delivery and the commissions to it dated in that year."""

    year: str
    activities: int
    unique_pupils: int
    participations: int
    hours: Decimal
    commissioned_pence: int


async def partner_history(
    session: AsyncSession, partner: Partner, years: list[str], filters: Filters
) -> list[PartnerYear]:
    """The partner's figures in each of `years` (newest first), leaving out years with nothing:
    its page shows how it has done across years, not only the year selected."""
    history = []
    for year in sorted(years, reverse=True):
        f = await partner_figures(session, partner, year, "academic", filters)
        row = PartnerYear(
            year,
            len(f.activities),
            f.unique_pupils,
            f.participations,
            f.hours,
            f.commissioned_pence,
        )
        if row.activities or row.participations or row.commissioned_pence:
            history.append(row)
    return history


async def activity_titles(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await session.execute(
        select(ActivityView.activity_id, ActivityView.title).where(
            ActivityView.activity_id.in_(ids)
        )
    )
    return {activity_id: title for activity_id, title in rows}
