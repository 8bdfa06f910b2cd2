"""Accountability views for ACE: schools and WCET continuation, inclusion,
progression, partnerships.

Figures are computed from pupil-level rows (by pseudonym) so a pupil counts once however many
activities, partners or nodes record them. Periods come from the academic year recorded on the
event (derived from activity dates at the node), never from when the event arrived.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal
from operator import attrgetter, itemgetter

from pydantic import BaseModel, Field
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models.activities import ActivityView, ParticipationView
from services.reporting.models.partners import AgreementView, OrganisationView, SettingView
from services.reporting.read.params import Filters
from services.reporting.read.queries import (
    ProducerHealth,
    ReportStamp,
    data_health,
    per_transaction,
    report_stamp,
    row_type,
)
from services.reporting.read.views.activities import ReturnRow, partner_returns
from services.reporting.read.views.partners import organisation_rows
from services.reporting.read.views.population import with_population, with_school_pupils
from services.reporting.read.views.pupils import (
    INDEX_COLUMNS,
    PROFILE_COLUMNS,
    figure_of_records,
    held_pupil_records,
    years_held,
)
from services.reporting.read.views.pupils import PupilRecord as PupilRecord
from services.reporting.read.views.pupils import activities_of as activities_of
from services.reporting.read.views.pupils import pupil_records as pupil_records
from services.reporting.read.views.rows import AreaSchools, Characteristic, share
from shared.periods import parse_period

LEVELS = ("early_years", "beginner", "intermediate", "advanced")
CONTINUING_KINDS = ("tuition", "ensemble")


def next_year(year: str, step: int = 1) -> str:
    period = parse_period(year, "academic")
    for _ in range(abs(step)):
        period = period.next() if step > 0 else period.previous()
    return period.name


# ---------------------------------------------------------------- schools and WCET


class WcetFigures(BaseModel):
    schools: int
    pupils: int = Field(description="Unique pupils in WCET in the year.")
    pupils_by_year_group: dict[str, int]
    continuation_year: str
    continued: int = Field(
        description="WCET pupils of the year found in tuition or ensembles the next year."
    )
    continuation_share: Decimal | None


class SchoolsReport(BaseModel):
    stamp: ReportStamp
    academic_year: str
    engaged_schools: int
    engaged_urns: list[str]
    unregistered_urns: list[str] = Field(
        description="Engaged URNs missing from every node's settings register."
    )
    areas: list[AreaSchools]
    wcet: WcetFigures


async def _register(session: AsyncSession) -> dict[str, SettingView]:
    """The settings register hub-wide: a URN names one school whichever node registered it."""
    return await per_transaction(session, ("register",), lambda: _read_register(session))


_SETTING = SettingView.__table__
_SettingRow = row_type(_SETTING)


async def _read_register(session: AsyncSession) -> dict[str, SettingView]:
    register: dict[str, SettingView] = {}
    for s in map(
        _SettingRow._make, await session.execute(select(*_SETTING.c).order_by(_SETTING.c.node))
    ):
        register.setdefault(s.urn, s)
    return register


def _school_areas(records: list[PupilRecord]) -> dict[str, str]:
    """Each school's area, as its last record gives it; without a Python frame per record, for a
    year is ~250k of them (kept with the year's join: `figure_of_records`)."""
    pupils = list(map(_PUPIL, records))
    areas = dict(zip(map(_SCHOOL, pupils), map(_HOME_AREA, pupils), strict=True))
    areas.pop(None, None)
    areas.pop("", None)
    return areas


_PUPIL, _SCHOOL, _HOME_AREA = itemgetter(0), attrgetter("school_urn"), attrgetter("home_area")


def engaged_urns(activities: list[ActivityView], records: list[PupilRecord]) -> set[str]:
    urns = {a.setting_urn for a in activities if a.setting_urn}
    return urns | {r.p.school_urn for r in records if r.p.school_urn}


async def schools_report(
    session: AsyncSession, year: str, filters: Filters = Filters()
) -> SchoolsReport:
    """Schools engaged (by URN) and their share of each area's state-funded schools;
    WCET and continuation.

    Read once per request: the inclusion, transparency and annual-return views build on it."""
    return await per_transaction(
        session, ("schools", year, repr(filters)), lambda: _schools_report(session, year, filters)
    )


async def _schools_report(session: AsyncSession, year: str, filters: Filters) -> SchoolsReport:
    activities = await activities_of(session, year, filters)
    # inclusion's columns too: the views that read schools (transparency, the annual return) read
    # inclusion next, and a second read of the year would cost more than the extra columns
    records = await pupil_records(session, year, filters, PROFILE_COLUMNS)
    register = await _register(session)
    # one pass over the records for both the engaged URNs and their areas (`engaged_urns` alike)
    area_of = {a.setting_urn: a.area for a in activities if a.setting_urn}
    schools = await figure_of_records(session, year, filters, PROFILE_COLUMNS, _school_areas)
    urns = area_of.keys() | schools.keys()
    area_of.update(schools)
    area_of.update({urn: s.area for urn, s in register.items()})
    engaged_in: defaultdict[str, set[str]] = defaultdict(set)
    for urn in urns:
        engaged_in[area_of[urn]].add(urn)
    funded_in: defaultdict[str, set[str]] = defaultdict(set)
    for urn, s in register.items():
        if s.state_funded:
            funded_in[s.area].add(urn)
    areas = sorted(engaged_in.keys() | {s.area for s in register.values()})
    if filters.area:
        areas = [a for a in areas if a == filters.area]
    rows = []
    for area in areas:
        funded, engaged = funded_in[area], engaged_in[area]
        rows.append(
            AreaSchools(
                area=area,
                engaged_schools=len(engaged),
                state_funded_schools=len(funded),
                state_funded_engaged=len(engaged & funded),
                state_funded_share=share(len(engaged & funded), len(funded)),
            )
        )
    rows = await with_school_pupils(session, year, rows)
    return SchoolsReport(
        stamp=await report_stamp(session),
        academic_year=year,
        engaged_schools=len(urns),
        engaged_urns=sorted(urns),
        unregistered_urns=sorted(urns - set(register)),
        areas=rows,
        wcet=await wcet_figures(session, year, activities, records, filters),
    )


async def wcet_figures(
    session: AsyncSession,
    year: str,
    activities: list[ActivityView],
    records: list[PupilRecord],
    filters: Filters,
) -> WcetFigures:
    wcet = [r for r in records if r.a.kind == "wcet"]
    pupils = {r.p.pseudonym for r in wcet}
    year_group = {r.p.pseudonym: r.p.year_group for r in wcet}
    following = next_year(year)
    continuing = await continuing_pupils(session, following, filters.area)
    schools = engaged_urns([a for a in activities if a.kind == "wcet"], wcet)
    return WcetFigures(
        schools=len(schools),
        pupils=len(pupils),
        pupils_by_year_group=dict(sorted(Counter(year_group.values()).items())),
        continuation_year=following,
        continued=len(pupils & continuing),
        continuation_share=share(len(pupils & continuing), len(pupils)),
    )


async def continuing_pupils(session: AsyncSession, year: str, area: str | None) -> set[str]:
    """Pupils (of `area`, or all) in tuition or ensembles in `year`: from the year's records if this
    transaction holds them, else as distinct pseudonyms from the database, which costs less than
    reading a year of records for one set."""
    held = held_pupil_records(session, year, Filters(area=area), INDEX_COLUMNS)
    if held is not None:
        return {r.p.pseudonym for r in held if r.a.kind in CONTINUING_KINDS}
    part, act = ParticipationView.__table__.c, ActivityView.__table__.c
    query = (
        select(part.pseudonym)
        .distinct()
        .join_from(
            ParticipationView.__table__,
            ActivityView.__table__,
            (act.node == part.node) & (act.activity_id == part.activity_id),
        )
        .where(
            part.academic_year == year,
            part.withdrawn.is_(False),
            act.kind.in_(CONTINUING_KINDS),
        )
    )
    if area is not None:
        query = query.where(part.home_area == area)
    return set(await session.scalars(query))


# ---------------------------------------------------------------- inclusion


class ColdSpot(BaseModel):
    area: str
    state_funded_schools: int
    engaged: int
    share: Decimal | None
    unengaged_urns: list[str]


class InclusionReport(BaseModel):
    stamp: ReportStamp
    academic_year: str
    unique_pupils: int
    characteristics: list[Characteristic]
    cold_spot_threshold: Decimal = Field(
        description="Areas whose engaged share of state-funded schools is below this percent."
    )
    cold_spots: list[ColdSpot]


def pupil_profiles(records: list[PupilRecord]) -> dict[str, dict[str, str]]:
    """One profile per pupil: a flag is set if any record sets it;
    categories take the latest non-default record."""
    profiles: dict[str, dict[str, str]] = {}
    for r in records:
        p = r.p
        prof = profiles.get(p.pseudonym)
        if prof is None:  # not setdefault: a default profile made for every record costs more
            prof = profiles[p.pseudonym] = {
                "send": "none",
                "fsm": "no",
                "looked_after": "no",
                "ethnicity": "unclassified",
                "gender": "not_known",
            }
        if p.send != "none" and prof["send"] != "ehcp":
            prof["send"] = p.send
        if p.fsm:  # a flag once set stays set
            prof["fsm"] = "yes"
        if p.looked_after:
            prof["looked_after"] = "yes"
        if p.ethnicity != "unclassified":
            prof["ethnicity"] = p.ethnicity
        if p.gender != "not_known":
            prof["gender"] = p.gender
    return profiles


async def inclusion_report(
    session: AsyncSession,
    year: str,
    filters: Filters = Filters(),
    cold_threshold: Decimal = Decimal(25),
) -> InclusionReport:
    """Shares of SEND, FSM, looked-after, ethnicity and gender among unique participants;
    cold spots."""
    profiles = await figure_of_records(session, year, filters, PROFILE_COLUMNS, pupil_profiles)
    rows = []
    for characteristic in ("send", "fsm", "looked_after", "ethnicity", "gender"):
        counts = Counter(p[characteristic] for p in profiles.values())
        rows += [
            Characteristic(
                characteristic=characteristic, value=v, pupils=n, share=share(n, len(profiles))
            )
            for v, n in sorted(counts.items())
        ]
    rows = await with_population(session, year, filters.area, rows, len(profiles), filters.node)
    schools = await schools_report(session, year, filters)
    register = await _register(session)
    engaged = set(schools.engaged_urns)
    cold = [
        ColdSpot(
            area=a.area,
            state_funded_schools=a.state_funded_schools,
            engaged=a.state_funded_engaged,
            share=a.state_funded_share,
            unengaged_urns=sorted(
                u
                for u, s in register.items()
                if s.area == a.area and s.state_funded and u not in engaged
            ),
        )
        for a in schools.areas
        if a.state_funded_schools and (a.state_funded_share or Decimal(0)) < cold_threshold
    ]
    return InclusionReport(
        stamp=schools.stamp,
        academic_year=year,
        unique_pupils=len(profiles),
        characteristics=rows,
        cold_spot_threshold=cold_threshold,
        cold_spots=cold,
    )


# ---------------------------------------------------------------- progression


class Transition(BaseModel):
    from_level: str
    to_level: str
    pupils: int


class EnsembleRow(BaseModel):
    node: str
    activity_id: str
    title: str
    level: str | None
    members: int


class ProgressionReport(BaseModel):
    stamp: ReportStamp
    academic_year: str
    previous_year: str
    pupils_by_level: dict[str, int] = Field(
        description="Unique pupils by the highest level they reached in the year."
    )
    transitions: list[Transition] = Field(
        description="Pupils by highest level last year → this year ('none' = absent)."
    )
    moved_up: int
    stayed: int
    moved_down: int
    ensemble_members: int = Field(
        description="Unique pupils in any ensemble (a pupil in two ensembles counts once)."
    )
    ensemble_memberships: int
    ensembles: list[EnsembleRow]
    advanced_pupils: int


_RANK = {level: n for n, level in enumerate(LEVELS)}


def highest_levels(records: list[PupilRecord]) -> dict[str, str]:
    """Each pupil's highest level in the records (pupils in the order first seen with one)."""
    best: dict[str, int] = {}
    for r in records:
        rank = _RANK.get(r.a.level or "")
        if rank is not None and rank >= best.get(pupil := r.p.pseudonym, 0):
            best[pupil] = rank
    return {pupil: LEVELS[rank] for pupil, rank in best.items()}


async def year_highest_levels(session: AsyncSession, year: str, filters: Filters) -> dict[str, str]:
    """`highest_levels` of a year's records, where nothing else reads them (progression's year
    before): from the records if this transaction holds them (or a filter on activities' JSON
    lists needs them), else grouped per pupil by the database, which costs less than reading a
    year of records to keep one level per pupil, unless the service holds the year between
    versions (views/year_rows.py). The pupils' order may differ: a mapping."""
    held = held_pupil_records(session, year, filters, INDEX_COLUMNS)
    if (
        held is not None
        or filters.function is not None
        or filters.aim is not None
        or years_held(session)
    ):
        return await figure_of_records(session, year, filters, INDEX_COLUMNS, highest_levels)
    part, act = ParticipationView.__table__.c, ActivityView.__table__.c
    rank = case(_RANK, value=act.level)
    query = (
        select(part.pseudonym, func.max(rank))
        .join_from(
            ParticipationView.__table__,
            ActivityView.__table__,
            (act.node == part.node) & (act.activity_id == part.activity_id),
        )
        .where(part.academic_year == year, part.withdrawn.is_(False), act.level.in_(LEVELS))
        .group_by(part.pseudonym)
    )
    if filters.node is not None:
        query = query.where(part.node == filters.node)
    if filters.area is not None:
        query = query.where(part.home_area == filters.area)
    return {pupil: LEVELS[n] for pupil, n in await session.execute(query)}


async def progression_report(
    session: AsyncSession, year: str, filters: Filters = Filters()
) -> ProgressionReport:
    """Level changes of the same pupils between consecutive years,
    ensembles and advanced opportunities."""
    previous = next_year(year, -1)
    now_records = await pupil_records(session, year, filters, INDEX_COLUMNS)
    now = await figure_of_records(session, year, filters, INDEX_COLUMNS, highest_levels)
    before = await year_highest_levels(session, previous, filters)
    moves = Counter((before.get(p, "none"), now.get(p, "none")) for p in set(now) | set(before))
    up = sum(
        n
        for (a, b), n in moves.items()
        if a in LEVELS and b in LEVELS and LEVELS.index(b) > LEVELS.index(a)
    )
    down = sum(
        n
        for (a, b), n in moves.items()
        if a in LEVELS and b in LEVELS and LEVELS.index(b) < LEVELS.index(a)
    )
    members: dict[tuple[str, str], set[str]] = defaultdict(set)
    titles: dict[tuple[str, str], ActivityView] = {}
    for r in now_records:
        if r.a.kind == "ensemble":
            members[(r.a.node, r.a.activity_id)].add(r.p.pseudonym)
            titles[(r.a.node, r.a.activity_id)] = r.a
    ensembles = [
        EnsembleRow(
            node=k[0],
            activity_id=k[1],
            title=titles[k].title,
            level=titles[k].level,
            members=len(v),
        )
        for k, v in sorted(members.items())
    ]
    return ProgressionReport(
        stamp=await report_stamp(session),
        academic_year=year,
        previous_year=previous,
        pupils_by_level={
            lvl: n for lvl in LEVELS if (n := sum(1 for v in now.values() if v == lvl))
        },
        transitions=[
            Transition(from_level=a, to_level=b, pupils=n) for (a, b), n in sorted(moves.items())
        ],
        moved_up=up,
        stayed=sum(n for (a, b), n in moves.items() if a == b),
        moved_down=down,
        ensemble_members=len(set().union(*members.values())) if members else 0,
        ensemble_memberships=sum(len(v) for v in members.values()),
        ensembles=ensembles,
        advanced_pupils=sum(1 for v in now.values() if v == "advanced"),
    )


# ---------------------------------------------------------------- partnerships and data health


class ExpiringAgreement(BaseModel):
    node: str
    agreement_id: str
    organisation: str
    kind: str
    title: str
    ends_on: date


class PartnershipsReport(BaseModel):
    stamp: ReportStamp
    academic_year: str
    active_partners: int = Field(
        description="Distinct organisations (by org-id) in state 'active'."
    )
    active_by_role: dict[str, int]
    active_by_function: dict[str, int]
    active_by_area: dict[str, int]
    expiring_within_days: int
    expiring: list[ExpiringAgreement]
    returns: list[ReturnRow]
    returns_by_status: dict[str, int]
    data_health: list[ProducerHealth]


async def partnerships_report(
    session: AsyncSession,
    year: str,
    today: date,
    filters: Filters = Filters(),
    within_days: int = 90,
) -> PartnershipsReport:
    """Active partners by role, function and area; agreements ending soon; partner returns;
    data health."""
    orgs = [  # plain rows, JSON lists decoded once per distinct text
        o
        for o in await organisation_rows(session, state="active")
        if filters.node is None or o.node == filters.node
    ]
    by: dict[str, defaultdict[str, set[str]]] = {
        d: defaultdict(set) for d in ("roles", "functions", "areas")
    }
    for o in orgs:
        for dimension, groups in by.items():
            for value in getattr(o, dimension):
                groups[value].add(o.org_id or f"{o.node}/{o.organisation_id}")
    org = OrganisationView.__table__.c
    names = {
        (node, organisation_id): name
        for node, organisation_id, name in await session.execute(
            select(org.node, org.organisation_id, org.name)
        )
    }
    horizon = today + timedelta(days=within_days)
    expiring = [
        ExpiringAgreement(
            node=a.node,
            agreement_id=a.agreement_id,
            organisation=names.get((a.node, a.organisation_id), a.organisation_id),
            kind=a.kind,
            title=a.title,
            ends_on=a.ends_on,
        )
        for a in sorted(
            await session.scalars(select(AgreementView)),
            key=lambda a: (a.ends_on, a.node, a.agreement_id),  # one order on every database
        )
        if a.ended_on is None
        and today <= a.ends_on <= horizon
        and (filters.node is None or a.node == filters.node)
    ]
    returns = [
        r
        for r in await partner_returns(session, year, today)
        if filters.node is None or r.node == filters.node
    ]
    return PartnershipsReport(
        stamp=await report_stamp(session),
        academic_year=year,
        active_partners=len({o.org_id or f"{o.node}/{o.organisation_id}" for o in orgs}),
        active_by_role={k: len(v) for k, v in sorted(by["roles"].items())},
        active_by_function={k: len(v) for k, v in sorted(by["functions"].items())},
        active_by_area={k: len(v) for k, v in sorted(by["areas"].items())},
        expiring_within_days=within_days,
        expiring=expiring,
        returns=returns,
        returns_by_status=dict(sorted(Counter(r.status for r in returns).items())),
        data_health=[
            h for h in await data_health(session) if filters.node is None or h.node == filters.node
        ],
    )
