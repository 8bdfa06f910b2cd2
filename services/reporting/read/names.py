"""Names for the ids the views carry (partners, schools by URN, activities, ledger entries) and the
years that hold data, so pages show people names and open on a year with figures. Read-only."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models.activities import ActivityView
from services.reporting.models.partners import OrganisationView, SettingView
from services.reporting.read.present import name as place
from services.reporting.read.versioned import per_version
from services.reporting.read.views.funding import load_ledger
from shared.periods import PeriodKind, period_of


@dataclass(frozen=True)
class Names:
    """Display names by id: an id not found stays unnamed (the caller says so, never guesses)."""

    organisations: dict[str, str] = field(default_factory=dict)
    schools: dict[str, str] = field(default_factory=dict)
    """URN → the setting's name on the register."""
    activities: dict[str, str] = field(default_factory=dict)
    entries: dict[str, str] = field(default_factory=dict)
    """Ledger entry id → its counterparty or title."""


async def names(session: AsyncSession) -> Names:
    """Every name the pages may need, read once per data version."""
    return await per_version(session, ("names",), lambda: _names(session), shared=True)


async def _names(session: AsyncSession) -> Names:
    orgs = {
        (node, oid): name
        for node, oid, name in await session.execute(
            select(OrganisationView.node, OrganisationView.organisation_id, OrganisationView.name)
        )
    }
    schools = {
        urn: orgs.get((node, oid), "")
        for node, urn, oid in await session.execute(
            select(SettingView.node, SettingView.urn, SettingView.organisation_id)
        )
    }
    activities = dict(
        (aid, title)
        for aid, title in await session.execute(
            select(ActivityView.activity_id, ActivityView.title)
        )
    )
    ledger = await load_ledger(session)
    entries = {
        entry_id: e.counterparty or e.title or ""
        for (_, entry_id), e in ledger.entries.items()
        if e.counterparty or e.title
    }
    nodes_of: dict[str, set[str]] = {}
    for (node, _), title in orgs.items():
        nodes_of.setdefault(title, set()).add(node)
    return Names(
        {  # a name two lead organisations register is told apart by theirs
            oid: f"{title} ({place(node)})" if len(nodes_of[title]) > 1 else title
            for (node, oid), title in orgs.items()
        },
        {u: n for u, n in schools.items() if n},
        activities,
        entries,
    )


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
        ledger = await load_ledger(session)
        return sorted({period_of(e.entry_on, kind).name for e in ledger.entries.values()})

    return await per_version(session, ("money years", kind), compute, shared=True)
