"""The events behind the accountability figures: schools engaged, pupil characteristics, level
changes, WCET continuation and active partners.

Each figure is read from its view; the events are found from the same projection rows the view
reads, and the distinct pupils, schools or partners they name are counted beside it, so a
reader can check that the events account for the figure exactly.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models.partners import OrganisationView
from services.reporting.read.params import Filters
from services.reporting.read.views.accountability import (
    CONTINUING_KINDS,
    PupilRecord,
    _register,
    activities_of,
    engaged_urns,
    highest_levels,
    inclusion_report,
    next_year,
    partnerships_report,
    progression_report,
    pupil_profiles,
    pupil_records,
    schools_report,
)

HUB = "hub"
PARTNER_DIMENSIONS = {"role": "roles", "area": "areas", "function": "functions"}


@dataclass(frozen=True)
class Found:
    """A figure, the events behind it (event id → what each contributes) and what they name."""

    figure: int
    parts: dict[str, int]
    unit: str
    note: str = ""
    distinct: int | None = None
    dated: dict[str, date] = field(default_factory=dict)
    """When what each event records happened (an activity's first day), where it has a date."""


def split_key(key: str, parts: int, shape: str) -> list[str]:
    """A key of `parts` slash-separated fields, or a ValueError saying the shape expected."""
    fields = key.split("/")
    if len(fields) != parts or not all(fields):
        raise ValueError(f"key {key!r} must be {shape}")
    return fields


def area_filter(area: str) -> Filters:
    return Filters(area=None if area == HUB else area)


def pupil_events(records: list[PupilRecord], figure: int, where: str = "") -> Found:
    """Participation events counted by the records they hold,
    beside the distinct pupils they name."""
    pupils = len({r.p.pseudonym for r in records})
    note = (
        f"{len(records)} participation records in these events{where} "
        f"name {pupils} distinct pupils (by pseudonym)"
    )
    return Found(
        figure,
        dict(Counter(r.p.event_id for r in records)),
        "participations",
        note,
        pupils,
        {r.p.event_id: r.a.starts_on for r in records},
    )


async def schools(session: AsyncSession, key: str, year: str) -> Found:
    """State-funded schools engaged in an area (or hub-wide): the events naming each of them."""
    report = await schools_report(session, year)
    figure = sum(a.state_funded_engaged for a in report.areas if key in (HUB, a.area))
    activities, records = await activities_of(session, year), await pupil_records(session, year)
    funded = {
        u for u, s in (await _register(session)).items() if s.state_funded and key in (HUB, s.area)
    }
    wanted = engaged_urns(activities, records) & funded
    named: defaultdict[str, set[str]] = defaultdict(set)
    dated: dict[str, date] = {}
    for a in activities:
        if a.setting_urn in wanted:
            named[a.event_id].add(a.setting_urn)
            dated[a.event_id] = a.starts_on
    for r in records:
        if r.p.school_urn in wanted:
            named[r.p.event_id].add(r.p.school_urn)
            dated[r.p.event_id] = r.a.starts_on
    schools_named = set().union(*named.values()) if named else set()
    note = (
        f"activity and participation events naming {len(schools_named)} distinct state-funded "
        "schools (state funding and area from the settings register)"
    )
    return Found(
        figure, {e: len(u) for e, u in named.items()}, "schools", note, len(schools_named), dated
    )


async def inclusion(session: AsyncSession, key: str, year: str) -> Found:
    """key = area/characteristic/value: the participation events of the pupils with that value."""
    area, characteristic, value = split_key(
        key, 3, "area/characteristic/value, e.g. coventry/send/ehcp or hub/fsm/yes"
    )
    filters = area_filter(area)
    report = await inclusion_report(session, year, filters)
    row = next(
        (
            c
            for c in report.characteristics
            if (c.characteristic, c.value) == (characteristic, value)
        ),
        None,
    )
    records = await pupil_records(session, year, filters)
    pupils = {
        p for p, profile in pupil_profiles(records).items() if profile.get(characteristic) == value
    }
    found = pupil_events([r for r in records if r.p.pseudonym in pupils], row.pupils if row else 0)
    population = f"; school population: {row.population}" if row else ""
    return replace(found, note=found.note + population)


async def progression(session: AsyncSession, key: str, year: str) -> Found:
    """key = area/from/to: the events of both years placing each pupil at those (highest) levels."""
    area, from_level, to_level = split_key(
        key, 3, "area/from/to, e.g. hub/beginner/intermediate ('none' = absent)"
    )
    filters = area_filter(area)
    report = await progression_report(session, year, filters)
    figure = next(
        (
            t.pupils
            for t in report.transitions
            if (t.from_level, t.to_level) == (from_level, to_level)
        ),
        0,
    )
    before_records = await pupil_records(session, report.previous_year, filters)
    now_records = await pupil_records(session, year, filters)
    before, now = highest_levels(before_records), highest_levels(now_records)
    pupils = {
        p
        for p in set(before) | set(now)
        if (before.get(p, "none"), now.get(p, "none")) == (from_level, to_level)
    }
    records = [
        r
        for levels, rows in ((before, before_records), (now, now_records))
        for r in rows
        if r.p.pseudonym in pupils and r.a.level == levels.get(r.p.pseudonym)
    ]
    return pupil_events(
        records, figure, f" (in {report.previous_year} and {year}, at each pupil's highest level)"
    )


async def continuation(session: AsyncSession, key: str, year: str) -> Found:
    """WCET pupils of the year found in tuition or ensembles the next year:
    their events in both years."""
    filters = area_filter(key)
    report = await schools_report(session, year, filters)
    wcet = [r for r in await pupil_records(session, year, filters) if r.a.kind == "wcet"]
    later = [
        r
        for r in await pupil_records(session, next_year(year), Filters(area=filters.area))
        if r.a.kind in CONTINUING_KINDS
    ]
    continued = {r.p.pseudonym for r in wcet} & {r.p.pseudonym for r in later}
    records = [r for r in wcet + later if r.p.pseudonym in continued]
    return pupil_events(
        records,
        report.wcet.continued,
        f" (WCET in {year}, tuition or ensembles in {next_year(year)})",
    )


async def partners(session: AsyncSession, key: str, year: str, today: date | None = None) -> Found:
    """key = hub, role/<role>, area/<area> or function/<function>:
    the events of each active partner."""
    if key == HUB:
        dimension, value = "", ""
    else:
        dimension, value = split_key(key, 2, "hub, role/<role>, area/<area> or function/<function>")
        if dimension not in PARTNER_DIMENSIONS:
            raise ValueError(f"key {key!r}: group by {', '.join(PARTNER_DIMENSIONS)}")
    report = await partnerships_report(
        session, year, today or date.today()
    )  # active partners are not per period
    figure = (
        report.active_partners
        if key == HUB
        else getattr(report, f"active_by_{dimension}").get(value, 0)
    )
    orgs = [
        o
        for o in await session.scalars(
            select(OrganisationView).where(OrganisationView.state == "active")
        )
        if key == HUB or value in getattr(o, PARTNER_DIMENSIONS[dimension])
    ]
    parts: Counter[str] = Counter()
    for o in orgs:
        parts.update(e for e in (o.event_id, o.details_event_id, o.state_event_id) if e)
    distinct = len({o.org_id or f"{o.node}/{o.organisation_id}" for o in orgs})
    note = (
        f"registration, latest details and state events of {len(orgs)} register rows: {distinct} "
        "distinct partners (one per org-id across nodes)"
    )
    return Found(figure, dict(parts), "register rows", note, distinct)
