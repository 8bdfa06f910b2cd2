"""Names for the ids the projections hold, and the years that hold data: partners by name (not
their UUID), schools by name from the settings register (not their URN), activities and ledger
entries by title. Pages and exports put these beside or instead of the ids (the words themselves:
services/reporting/read/labels.py), and pages open on a year with figures. Read-only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models.activities import ActivityView
from services.reporting.models.funding import FundingFlowView
from services.reporting.models.partners import OrganisationView, SettingView
from services.reporting.read.labels import KNOWN_ORG_IDS, Names, words
from services.reporting.read.present import name as place
from services.reporting.read.queries import plain_rows
from services.reporting.read.versioned import per_version
from shared.periods import PeriodKind, period_of


async def load_names(session: AsyncSession) -> Names:
    """Every name the pages and exports may need, read once per data version."""
    return await per_version(session, ("names",), lambda: _names(session), shared=True)


async def _names(session: AsyncSession) -> Names:
    orgs: dict[tuple[str, str], str] = {}
    org_ids = dict(KNOWN_ORG_IDS)
    o = OrganisationView.__table__.c
    for node, oid, org_id, title in await plain_rows(
        session, select(o.node, o.organisation_id, o.org_id, o.name)
    ):
        orgs[(node, oid)] = title
        if org_id:
            org_ids[org_id] = title
    schools: dict[str, str] = {}
    areas: dict[str, str] = {}
    s = SettingView.__table__.c
    for node, urn, oid, area in await plain_rows(
        session, select(s.node, s.urn, s.organisation_id, s.area)
    ):
        if school := orgs.get((node, oid)):
            schools[urn] = school
        areas[area] = words(area)
    for slug in await session.scalars(select(ActivityView.area).distinct()):
        areas.setdefault(slug, words(slug))
    a = ActivityView.__table__.c
    activities = dict(await plain_rows(session, select(a.activity_id, a.title)))
    entries = await _entry_names(session)
    return Names(_told_apart(orgs), schools, areas, org_ids, activities, entries)


async def _entry_names(session: AsyncSession) -> dict[str, str]:
    """Ledger entry id → its counterparty, else its title: three columns of the entries that have
    either, not the whole ledger. An id two nodes share names the later node's entry."""
    f = FundingFlowView.__table__.c
    named: dict[str, tuple[str, str]] = {}
    for node, entry_id, counterparty, title in await plain_rows(
        session,
        select(f.node, f.entry_id, f.counterparty, f.title).where(
            f.counterparty.is_not(None) | f.title.is_not(None)
        ),
    ):
        if (counterparty or title) and node >= named.get(entry_id, ("",))[0]:
            named[entry_id] = (node, counterparty or title or "")
    return {entry_id: name for entry_id, (_, name) in named.items()}


def _told_apart(orgs: dict[tuple[str, str], str]) -> dict[str, str]:
    """Organisation id → name; a name two lead organisations register is told apart by theirs."""
    nodes_of: dict[str, set[str]] = {}
    for (node, _), title in orgs.items():
        nodes_of.setdefault(title, set()).add(node)
    return {
        oid: f"{title} ({place(node)})" if len(nodes_of[title]) > 1 else title
        for (node, oid), title in orgs.items()
    }


async def activity_titles(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    """Activities by title (an id not found keeps its id)."""
    names = await load_names(session)
    return {i: names.activities.get(i, i) for i in ids}


async def delivery_years(session: AsyncSession) -> list[str]:
    """Academic years with any activity recorded, oldest first (once per data version: every
    page asks, to open on the latest)."""
    return await per_version(
        session, ("delivery years",), lambda: _delivery_years(session), shared=True
    )


async def _delivery_years(session: AsyncSession) -> list[str]:
    found = await session.scalars(
        select(ActivityView.academic_year).where(ActivityView.academic_year.is_not(None)).distinct()
    )
    return sorted(y for y in found if y)


async def money_years(session: AsyncSession, kind: PeriodKind) -> list[str]:
    """Years (academic or financial) with any ledger entry dated in them, oldest first."""

    async def compute() -> list[str]:
        dates = await session.scalars(select(FundingFlowView.entry_on).distinct())
        return sorted({period_of(on, kind).name for on in dates})

    return await per_version(session, ("money years", kind), compute, shared=True)
