"""What people call the things the projections hold by id: partners by name (not their UUID),
schools by name from the settings register (not their URN), and the hub's vocabulary (areas,
income sources, functions, kinds, levels, roles) in plain English. Exports and pages put these
beside or instead of the ids."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models.activities import ActivityView
from services.reporting.models.partners import OrganisationView, SettingView
from services.reporting.read.versioned import once_per_version
from shared.contracts.funding import EntryKind, RemissionReason, SpendCategory
from shared.contracts.vocabulary import (
    ActivityKind,
    Aim,
    FundingStream,
    IncomeSource,
    Level,
    OrganisationRole,
    StrategicFunction,
)

WORDS = {
    "dfe": "DfE",
    "ace": "ACE",
    "la": "LA",
    "urn": "URN",
    "urns": "URNs",
    "wcet": "WCET",
    "send": "SEND",
    "fsm": "FSM",
    "ehcp": "EHCP",
    "cpd": "CPD",
    "id": "ID",
    "ids": "IDs",
    "org": "org",
}
"""Words written the way people write them, whatever a key's case."""
KNOWN_ORG_IDS = {"GB-CHC-1036733": "Arts Council England"}
"""Funders every hub names by org-id without registering them."""

VOCABULARY = {
    str(v): v.value.replace("_", " ")
    for enum in (
        ActivityKind,
        Aim,
        IncomeSource,
        Level,
        OrganisationRole,
        StrategicFunction,
        FundingStream,
        EntryKind,
        SpendCategory,
        RemissionReason,
    )
    for v in enum
}
VOCABULARY |= {"dfe_grant": "DfE grant", "wcet": "WCET", "cpd": "CPD", "send_inclusion": "SEND"}


def words(key: str) -> str:
    """A key as words, first letter capital: ``engaged_urns`` → ``Engaged URNs``."""
    text = " ".join(WORDS.get(w.lower(), w) for w in key.replace("-", "_").split("_") if w)
    return text[:1].upper() + text[1:]


def label(value: str) -> str:
    """A vocabulary value as people say it (``dfe_grant`` → ``DfE grant``); others unchanged."""
    found = VOCABULARY.get(value)
    return found[:1].upper() + found[1:] if found else value


@dataclass(frozen=True)
class Names:
    """Names for ids: partners by organisation id, schools by URN, areas by their slug."""

    organisations: dict[str, str] = field(default_factory=dict)
    schools: dict[str, str] = field(default_factory=dict)
    areas: dict[str, str] = field(default_factory=dict)
    org_ids: dict[str, str] = field(default_factory=lambda: dict(KNOWN_ORG_IDS))
    """Registered organisations by org-id (``GB-CHC-…``), and the hub's funders."""

    def area(self, slug: str) -> str:
        return self.areas.get(slug, slug)

    def funder(self, text: str) -> str:
        """A funder or payee as recorded (a name, an org-id or an organisation id), by name."""
        return self.org_ids.get(text) or self.organisations.get(text) or text


@once_per_version
async def load_names(session: AsyncSession) -> Names:
    """Every registered organisation's name and every registered school's (its organisation's)."""
    organisations, org_ids = {}, dict(KNOWN_ORG_IDS)
    for organisation_id, org_id, name in await session.execute(
        select(OrganisationView.organisation_id, OrganisationView.org_id, OrganisationView.name)
    ):
        organisations[organisation_id] = name
        if org_id:
            org_ids[org_id] = name
    schools, areas = {}, {}
    for urn, organisation_id, area in await session.execute(
        select(SettingView.urn, SettingView.organisation_id, SettingView.area)
    ):
        schools[urn] = organisations.get(organisation_id, urn)
        areas[area] = words(area)
    for slug in await session.scalars(select(ActivityView.area).distinct()):
        areas.setdefault(slug, words(slug))
    return Names(organisations, schools, areas, org_ids)


async def activity_titles(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    """Activities by title (an id not found keeps its id)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(ActivityView.activity_id, ActivityView.title).where(
            ActivityView.activity_id.in_(ids)
        )
    )
    return {activity_id: title for activity_id, title in rows}
