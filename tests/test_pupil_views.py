"""The pupil views read a year's participations in only the columns they need, and reach groups
them in Python where a report has read them (else counts by SQL, as before); a year whose records
nothing else reads (progression's year before, WCET continuation's year after) is counted by the
database. On a generated hub (several nodes and years, pupils in many activities, withdrawn
pupils, activities recorded under another year or none, pupils of an activity never delivered)
every figure equals the one computed the old way (every column read; reach's distinct counts by
SQL; levels and continuing pupils from the records; the old groupings kept here), hub-wide and
narrowed, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, get_args

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.app import build_service
from services.reporting.ingest.consumer import ReportingService
from services.reporting.models import AppliedEventRow
from services.reporting.models.activities import ActivityView, ParticipationView
from services.reporting.models.partners import SettingView
from services.reporting.read.catalogue import VIEWS, KindFigures, delivery_by_kind
from services.reporting.read.params import Filters, ViewParams
from services.reporting.read.queries import row_type
from services.reporting.read.views import evidence as evidence_module
from services.reporting.read.views.accountability import (
    CONTINUING_KINDS,
    _register,
    continuing_pupils,
    engaged_urns,
    highest_levels,
    schools_report,
    year_highest_levels,
)
from services.reporting.read.views.activities import Dimension, Reach, ReachRow, reach
from services.reporting.read.views.evidence import evidence
from services.reporting.read.views.pupils import (
    INDEX_COLUMNS,
    PROFILE_COLUMNS,
    _activities_by_key,
    _load_activities,
    activities_of,
    pupil_records,
)
from services.reporting.settings import ReportingSettings
from shared.db import session_factory
from shared.settings import HubSettings

NODES = ("coventry", "solihull", "warwickshire")
YEARS = ("2023-24", "2024-25", "2025-26")
KINDS = ("wcet", "tuition", "ensemble", "workshop", "singing")
LEVELS = ("early_years", "beginner", "intermediate", "advanced", None)


def generated(seed: int = 26) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Activities and participations with the awkward cases the views must count alike."""
    rng = random.Random(seed)
    pupils = [f"{rng.getrandbits(256):064x}" for _ in range(60)]
    activities: list[dict[str, Any]] = []
    participations: list[dict[str, Any]] = []
    for n, node in enumerate(NODES):
        for y, year in enumerate(YEARS):
            for i in range(8):
                activity_id = f"a-{node}-{year}-{i}"
                recorded_year: str | None = year
                if i == 6:
                    recorded_year = None  # ActivityDelivered v1: no year recorded
                elif i == 7:
                    recorded_year = YEARS[max(0, y - 1)]  # recorded under another year
                starts = date(2023 + y, 9, 4) + timedelta(days=rng.randrange(200))
                activities.append(
                    {
                        "node": node,
                        "activity_id": activity_id,
                        "kind": rng.choice(KINDS),
                        "title": f"Activity {i}",
                        "area": rng.choice(NODES),
                        "starts_on": starts,
                        "ends_on": starts + timedelta(weeks=10),
                        "hours": rng.choice([Decimal("12.50"), Decimal(3), Decimal("0.75")]),
                        "headcount": rng.randrange(1, 30),
                        "level": rng.choice(LEVELS),
                        "functions": rng.sample(["schools", "progression", "inclusion"], 2),
                        "aims": None  # recorded before activities named their aims
                        if i == 5
                        else rng.sample(["support_schools", "inclusion", "progression"], 1),
                        "event_id": f"e-{activity_id}",
                        "delivered_by": rng.choice(["partner-1", "partner-2", None]),
                        "setting_urn": rng.choice([None, "100001", "100002", "100003"]),
                        "term": rng.choice(["autumn", "spring", None]),
                        "academic_year": recorded_year,
                    }
                )
                for k in range(rng.randrange(1, 25)):
                    pid = f"{n}{y}{i:02d}{k:03d}-{rng.getrandbits(32):08x}"
                    participations.append(
                        {
                            "node": node,
                            "participation_id": pid,
                            "activity_id": activity_id if k % 17 else f"never-{i}",
                            "academic_year": year,
                            "pseudonym": rng.choice(pupils),
                            "year_group": str(rng.randint(1, 11)),
                            "send": rng.choice(["none", "none", "support", "ehcp"]),
                            "fsm": rng.random() < 0.3,
                            "looked_after": rng.random() < 0.05,
                            "ethnicity": rng.choice(["white", "asian", "unclassified"]),
                            "gender": rng.choice(["female", "male", "not_known"]),
                            "school_urn": rng.choice([None, "100001", "100002", "100004"]),
                            "home_area": rng.choice(NODES),
                            "withdrawn": rng.random() < 0.1,
                            "event_id": f"p-{node}-{year}-{i}-{k // 5}",
                        }
                    )
    return activities, participations


def applied(participations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The participation events as applied (what pupil evidence lists), in an order unlike ids."""
    events = sorted({p["event_id"]: p["node"] for p in participations}.items(), reverse=True)
    return [
        {
            "event_id": event_id,
            "position": position,
            "node": node,
            "service": "activities",
            "sequence": position,
            "event_type": "ParticipationRecorded",
            "version": 1,
            "stream_seq": position + 100,
            "occurred_at": datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=position),
            "recorded_at": datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=position),
            "digest": "0" * 64,
            "chain_hash": "0" * 64,
        }
        for position, (event_id, node) in enumerate(events, start=1)
    ]


SETTINGS = [
    {
        "node": "coventry",
        "urn": urn,
        "organisation_id": urn,
        "area": area,
        "la_code": "331",
        "phase": "Primary",
        "setting_type": "Community school",
        "state_funded": funded,
    }
    for urn, area, funded in (
        ("100001", "coventry", True),
        ("100002", "solihull", True),
        ("100003", "coventry", False),
    )
]


@pytest.fixture
async def reporting(settings: HubSettings, database_url: str) -> AsyncIterator[ReportingService]:
    service = build_service(
        settings.model_copy(update={"nodes": list(NODES)}),
        "",
        ReportingSettings(database_url=database_url),
    )
    await service.start(consume=False)
    activities, participations = generated()
    async with service.sessions() as writer, writer.begin():
        await writer.execute(insert(ActivityView.__table__), activities)
        await writer.execute(insert(ParticipationView.__table__), participations)
        await writer.execute(insert(SettingView.__table__), SETTINGS)
        await writer.execute(insert(AppliedEventRow.__table__), applied(participations))
    try:
        yield service
    finally:
        await service.stop()


async def sql_reach(session: AsyncSession, year: str, by: str, node: str | None) -> Reach:
    """Reach as it was computed before: distinct pupils by SQL, one query per dimension."""
    part, act = ParticipationView, ActivityView
    group = {
        "area": part.home_area,
        "kind": act.kind,
        "level": act.level,
        "year_group": part.year_group,
        "node": part.node,
        "partner": act.delivered_by,
    }[by]
    base = (
        select()
        .select_from(part)
        .join(act, (act.node == part.node) & (act.activity_id == part.activity_id))
        .where(part.academic_year == year, part.withdrawn.is_(False))
    )
    if node is not None:
        base = base.where(part.node == node)
    pupils = func.count(part.pseudonym.distinct())
    total_pupils, total_parts = (
        await session.execute(base.add_columns(pupils, func.count()))
    ).one()
    rows = {
        key: ReachRow(
            group=key,
            unique_pupils=n,
            participations=c,
            headcount=None if by == "year_group" else 0,
        )
        for key, n, c in await session.execute(
            base.add_columns(group, pupils, func.count()).group_by(group)
        )
    }
    heads = func.coalesce(func.sum(act.headcount), 0)
    in_year = act.academic_year == year
    if node is not None:
        in_year = in_year & (act.node == node)
    total_heads = int(await session.scalar(select(heads).where(in_year)) or 0)
    column = {
        "area": act.area,
        "kind": act.kind,
        "level": act.level,
        "node": act.node,
        "partner": act.delivered_by,
    }.get(by)
    if column is not None:
        for key, count in await session.execute(
            select(column, heads).where(in_year).group_by(column)
        ):
            row = rows.setdefault(
                key, ReachRow(group=key, unique_pupils=0, participations=0, headcount=0)
            )
            row.headcount = int(count)
    return Reach(
        academic_year=year,
        by=by,
        unique_pupils=total_pupils,
        participations=total_parts,
        headcount=total_heads,
        rows=sorted(rows.values(), key=lambda r: (r.group is None, r.group or "")),
    )


def uncached(reporting: ReportingService) -> Any:
    """Read sessions without the figures held per data version: each view computed afresh."""
    return session_factory(reporting.read_engine)


async def test_reach_counts_as_the_sql_did(reporting: ReportingService) -> None:
    sessions = uncached(reporting)
    compared = 0
    for year in YEARS:
        for node in (None, *NODES):
            for by in get_args(Dimension):
                async with sessions() as session:
                    expected = await sql_reach(session, year, by, node)
                async with sessions() as session:  # read by SQL
                    assert await reach(session, year, by, node) == expected, (year, by, node)
                async with sessions() as session:  # grouped from the records a report reads first
                    await pupil_records(session, year, Filters(node=node), INDEX_COLUMNS)
                    assert await reach(session, year, by, node) == expected, (year, by, node)
                compared += 1
                assert expected.unique_pupils > 0 and expected.rows
    assert compared == len(YEARS) * 4 * len(get_args(Dimension))


FILTERS = [
    Filters(),
    Filters(node="solihull"),
    Filters(area="coventry"),
    Filters(function="inclusion"),
    Filters(aim="progression", node="coventry"),
]


async def test_every_pupil_view_is_the_same_when_every_column_is_read(
    reporting: ReportingService,
) -> None:
    """Each view reads only the columns it needs; read with every column of every year held
    (as before), each figure is the same, and the pupil evidence too."""
    sessions = uncached(reporting)
    today = date(2026, 3, 1)
    for year in YEARS[1:]:
        for filters in FILTERS:
            params = ViewParams(
                hub="h", nodes=list(NODES), period=year, filters=filters, today=today
            )
            for name, spec in VIEWS.items():
                if name in ("summary", "data-health", "partnerships", "funding"):
                    continue
                async with sessions() as session:
                    lean = await spec.run(session, params)
                async with sessions() as session:
                    for held in YEARS + ("2026-27", "2022-23"):
                        await pupil_records(session, held)  # every column
                    full = await spec.run(session, params)
                assert lean == full, (name, year, filters)
        for key in ("hub", "coventry"):
            async with sessions() as session:
                lean_evidence = await evidence(session, "pupils", key, year)
            async with sessions() as session:
                await pupil_records(session, year)
                full_evidence = await evidence(session, "pupils", key, year)
            assert lean_evidence == full_evidence
            assert lean_evidence.events and lean_evidence.distinct


async def test_a_years_highest_levels_grouped_by_sql_are_those_of_its_records(
    reporting: ReportingService,
) -> None:
    """Progression's year before: each pupil's highest level grouped by the database (live
    participations of activities found under any year or none, withdrawn ones and those of an
    activity never delivered left out, narrowed by node and area) is the one its records give,
    as computed before; narrowed by function or aim (JSON lists), from the records."""
    sessions = uncached(reporting)
    levelled = 0
    for year in YEARS:
        for filters in FILTERS:
            async with sessions() as session:
                expected = highest_levels(await pupil_records(session, year, filters))
            async with sessions() as session:
                found = await year_highest_levels(session, year, filters)
            assert found == expected, (year, filters)
            levelled += bool(expected)
    assert levelled >= len(YEARS) * (len(FILTERS) - 1)


async def test_continuing_pupils_from_the_database_are_those_of_the_records(
    reporting: ReportingService,
) -> None:
    """WCET continuation's year after: the pupils in tuition or ensembles found as distinct
    pseudonyms by the database are those the year's records name (the old way), hub-wide and by
    area; and the records are used where the transaction holds them."""
    sessions = uncached(reporting)
    for year in (*YEARS, "2026-27"):
        for area in (None, *NODES):
            async with sessions() as session:
                records = await pupil_records(session, year, Filters(area=area))
                expected = {r.p.pseudonym for r in records if r.a.kind in CONTINUING_KINDS}
                held = await continuing_pupils(session, year, area)
            async with sessions() as session:
                found = await continuing_pupils(session, year, area)
            assert found == held == expected, (year, area)
            assert expected or year == "2026-27", (year, area)


async def test_pupil_evidence_finds_the_events_a_list_of_ids_finds(
    reporting: ReportingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The events behind a pupil figure, selected by one array of ids that the database unpacks
    (a JSON array on SQLite, a text array on PostgreSQL), are those a parameter per id selects (as
    before), in the same order."""
    sessions = uncached(reporting)
    for year in YEARS:
        for key in ("hub", "coventry"):
            async with sessions() as session:
                found = await evidence(session, "pupils", key, year)
            with monkeypatch.context() as patched:
                patched.setattr(
                    evidence_module, "_one_of", lambda _s, column, values: column.in_(values)
                )
                async with sessions() as session:
                    listed = await evidence(session, "pupils", key, year)
            assert found == listed, (year, key)
            assert found.events, (year, key)


async def old_delivery_by_kind(session: AsyncSession, p: ViewParams) -> list[KindFigures]:
    """The annual return's delivery by kind as computed before: every record and activity
    filtered again for each kind."""
    records = await pupil_records(session, p.period, p.filters, INDEX_COLUMNS)
    rows = []
    activities = await activities_of(session, p.period, p.filters)
    for kind in sorted({a.kind for a in activities} | {r.a.kind for r in records}):
        mine = [a for a in activities if a.kind == kind]
        pupils = [r for r in records if r.a.kind == kind]
        rows.append(
            KindFigures(
                kind=kind,
                activities=len(mine),
                hours=sum((a.hours for a in mine), Decimal(0)),
                headcount=sum(a.headcount for a in mine),
                unique_pupils=len({r.p.pseudonym for r in pupils}),
                participations=len(pupils),
            )
        )
    return rows


async def test_delivery_by_kind_grouped_once_is_as_filtered_per_kind(
    reporting: ReportingService,
) -> None:
    """Each kind's activities, hours, headcount, unique pupils and participations, grouped in one
    pass, are those the old filtering per kind gives, hub-wide and narrowed, in kind order."""
    sessions = uncached(reporting)
    for year in YEARS:
        for filters in FILTERS:
            params = ViewParams(hub="h", nodes=list(NODES), period=year, filters=filters)
            async with sessions() as session:
                expected = await old_delivery_by_kind(session, params)
            async with sessions() as session:
                found = await delivery_by_kind(session, params)
            assert found == expected, (year, filters)
            assert [k.kind for k in found] == sorted({k.kind for k in found}), (year, filters)
    assert len(expected) > 1


async def old_schools_by_area(
    session: AsyncSession, year: str, filters: Filters
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Engaged URNs and each area's school figures as computed before: every URN's area looked
    up again for each area."""
    activities = await activities_of(session, year, filters)
    records = await pupil_records(session, year, filters, PROFILE_COLUMNS)
    register = await _register(session)
    urns = engaged_urns(activities, records)
    area_of = {a.setting_urn: a.area for a in activities if a.setting_urn}
    area_of.update({r.p.school_urn: r.p.home_area for r in records if r.p.school_urn})
    area_of.update({urn: s.area for urn, s in register.items()})
    areas = sorted({area_of[u] for u in urns} | {s.area for s in register.values()})
    if filters.area:
        areas = [a for a in areas if a == filters.area]
    rows = []
    for area in areas:
        funded = {u for u, s in register.items() if s.area == area and s.state_funded}
        engaged = {u for u in urns if area_of.get(u) == area}
        rows.append((area, len(engaged), len(funded), len(engaged & funded)))
    return sorted(urns), rows


async def test_schools_grouped_by_area_once_are_as_looked_up_per_area(
    reporting: ReportingService,
) -> None:
    """The schools view's engaged URNs and each area's engaged, state-funded and state-funded
    engaged schools, grouped by area in one pass, are those the old lookup per area gives."""
    sessions = uncached(reporting)
    for year in YEARS:
        for filters in FILTERS:
            async with sessions() as session:
                urns, expected = await old_schools_by_area(session, year, filters)
            async with sessions() as session:
                report = await schools_report(session, year, filters)
            found = [
                (a.area, a.engaged_schools, a.state_funded_schools, a.state_funded_engaged)
                for a in report.areas
            ]
            assert (report.engaged_urns, found) == (urns, expected), (year, filters)
            assert report.unregistered_urns == sorted(set(urns) - {"100001", "100002", "100003"})
    assert any(engaged for _, engaged, _, _ in expected)


@pytest.mark.parametrize("view", ["transparency", "annual-return"])
async def test_a_report_reads_the_years_pupils_once(reporting: ReportingService, view: str) -> None:
    """Transparency's reach tables (three dimensions), WCET and characteristics, and every part of
    the annual return, count one read of the year's participations, not a distinct count by SQL
    per dimension and then the rows; in the columns the views read, not every column (WCET
    continuation reads the next year once, progression the year before)."""
    read: list[tuple[str, Any]] = []

    def reads_participations(_c: Any, _cur: Any, sql: str, params: Any, *_: Any) -> None:
        if "participation_view" in sql:
            read.append((sql, params))

    sessions = uncached(reporting)
    params = ViewParams(hub="h", nodes=list(NODES), period=YEARS[1], today=date(2026, 3, 1))
    event.listen(reporting.read_engine.sync_engine, "before_cursor_execute", reads_participations)
    try:
        async with sessions() as session:
            report = await VIEWS[view].run(session, params)
    finally:
        event.remove(
            reporting.read_engine.sync_engine, "before_cursor_execute", reads_participations
        )
    of_the_year = [sql for sql, bound in read if YEARS[1] in str(bound)]
    assert len(of_the_year) == 1, "\n".join(of_the_year)
    assert "event_id" not in of_the_year[0] and "participation_id," not in of_the_year[0]
    assert len(read) <= (2 if view == "transparency" else 3), read
    if view == "transparency":
        assert len(report.tables) == 3 + 1 + 5  # type: ignore[attr-defined]


_ACT = ActivityView.__table__


async def old_activities(session: AsyncSession, year: str | None) -> list[Any]:
    """The activities of a year (None: recorded under no year) as read before: every value
    converted by SQLAlchemy, row by row."""
    row = row_type(_ACT)
    query = select(*_ACT.c).order_by(_ACT.c.node, _ACT.c.activity_id)
    query = query.where(_ACT.c.academic_year == year if year else _ACT.c.academic_year.is_(None))
    return [row(*values) for values in await session.execute(query)]


def same_values(new: list[Any], old: list[Any]) -> None:
    assert new == old
    for a, b in zip(new, old, strict=True):
        assert [type(v) for v in a] == [type(v) for v in b], (a, b)


async def test_activities_decoded_once_per_value_are_those_sqlalchemy_decodes(
    reporting: ReportingService,
) -> None:
    """A year's activities, and those recorded under another year or none (found by key), read
    with each date, amount and JSON list converted once per distinct stored value: the same
    values, of the same types, as SQLAlchemy's row-by-row conversion gives."""
    sessions = uncached(reporting)
    for year in YEARS:
        async with sessions() as session:
            expected = await old_activities(session, year)
        async with sessions() as session:
            found = await _load_activities(session, year)
        same_values(found, expected)
        assert any(a.aims is None for a in found) and len({a.hours for a in found}) > 1
    async with sessions() as session:
        unrecorded = await old_activities(session, None)
    assert unrecorded
    async with sessions() as session:
        by_key = await _activities_by_key(session, {(a.node, a.activity_id) for a in unrecorded})
    assert len(by_key) == len(unrecorded)
    same_values([by_key[(a.node, a.activity_id)] for a in unrecorded], unrecorded)
