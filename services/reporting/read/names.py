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
from shared.contracts.vocabulary import (
    ActivityKind,
    Aim,
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

VOCABULARY = {
    str(v): v.value.replace("_", " ")
    for enum in (ActivityKind, Aim, IncomeSource, Level, OrganisationRole, StrategicFunction)
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

    def area(self, slug: str) -> str:
        return self.areas.get(slug, slug)


@once_per_version
async def load_names(session: AsyncSession) -> Names:
    """Every registered organisation's name and every registered school's (its organisation's)."""
    organisations = {
        o.organisation_id: o.name
        for o in await session.execute(
            select(OrganisationView.organisation_id, OrganisationView.name)
        )
    }
    schools, areas = {}, {}
    for urn, organisation_id, area in await session.execute(
        select(SettingView.urn, SettingView.organisation_id, SettingView.area)
    ):
        schools[urn] = organisations.get(organisation_id, urn)
        areas[area] = words(area)
    for slug in await session.scalars(select(ActivityView.area).distinct()):
        areas.setdefault(slug, words(slug))
    return Names(organisations, schools, areas)
