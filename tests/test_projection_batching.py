"""A batch's writes are sent grouped per table, with updates folded into same-batch inserts:
the tables must come out exactly as if each event had been applied on its own, in order."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.app import build_service
from services.reporting.ingest.apply import Incoming
from services.reporting.ingest.audit import projection_tables
from services.reporting.settings import ReportingSettings
from shared.settings import HubSettings
from shared.subjects import event_subject
from tests.test_contracts import envelope_for

SAMPLES = Path(__file__).parent / "samples"
ORG, OTHER, ACTIVITY = (
    "01a2011f-0000-7000-8000-000000000002",
    "01a2011f-0000-7000-8000-0000000000f2",
    "01a2011f-0000-7000-8000-000000000003",
)


def sample(name: str, **changes: Any) -> dict[str, Any]:
    return {**json.loads((SAMPLES / f"{name}.json").read_text()), **changes}


def history(hub: str) -> list[Incoming]:
    """Inserts and updates of the same rows interleaved: updated before and after being inserted,
    updated twice, an update of a row that never comes, and the same change again later."""
    corrected = sample("ActivityCorrected.v1")
    steps = [
        (
            "partners",
            "PartnerStateChanged",
            sample("PartnerStateChanged.v1", organisation_id=OTHER),
        ),  # no such row
        (
            "partners",
            "OrganisationRegistered",
            sample("OrganisationRegistered.v1", organisation_id=ORG),
        ),
        ("partners", "PartnerStateChanged", sample("PartnerStateChanged.v1", organisation_id=ORG)),
        (
            "partners",
            "OrganisationDetailsChanged",
            sample("OrganisationDetailsChanged.v1", organisation_id=ORG),
        ),
        ("partners", "AgreementSigned", sample("AgreementSigned.v1", organisation_id=ORG)),
        ("partners", "AgreementEnded", sample("AgreementEnded.v1", organisation_id=ORG)),
        (
            "partners",
            "PartnerStateChanged",
            sample(
                "PartnerStateChanged.v1",
                organisation_id=ORG,
                from_state="approved",
                to_state="active",
            ),
        ),
        ("activities", "ActivityDelivered", sample("ActivityDelivered.v2", activity_id=ACTIVITY)),
        ("activities", "ActivityCorrected", corrected),
        (
            "activities",
            "ActivityCorrected",
            {**corrected, "activity": {**corrected["activity"], "headcount": 12}},
        ),
    ]
    out, sequences = [], {"partners": 0, "activities": 0}
    for i, (service, event_type, payload) in enumerate(steps, start=1):
        sequences[service] += 1
        version = 2 if event_type == "ActivityDelivered" else 1
        raw = envelope_for(
            event_type, version, payload, hub=hub, service=service, sequence=sequences[service]
        )
        out.append(Incoming(event_subject(hub, "coventry", service, event_type, version), raw, i))
    return out


async def tables_after(
    settings: HubSettings, url: str, batches: list[list[Incoming]]
) -> dict[str, list[dict[str, Any]]]:
    hub = settings.model_copy(
        update={"nodes": ["coventry", "warwickshire", "solihull"]}
    )  # the samples name all three
    service = build_service(hub, "", ReportingSettings(database_url=url))
    await service.start(consume=False)
    try:
        for batch in batches:
            outcome = await service.ingest(batch)
            assert not outcome.dead
        async with service.read_sessions() as session:
            return {
                t.name: sorted(
                    (dict(r._mapping) for r in await session.execute(select(t))), key=repr
                )
                for t in projection_tables()
            }
    finally:
        await service.stop()


async def test_one_batch_gives_the_tables_of_one_event_at_a_time(
    settings: HubSettings, tmp_path: Path
) -> None:
    events = history(settings.hub)
    together = await tables_after(
        settings, f"sqlite+aiosqlite:///{tmp_path / 'together.db'}", [events]
    )
    apart = await tables_after(
        settings, f"sqlite+aiosqlite:///{tmp_path / 'apart.db'}", [[e] for e in events]
    )
    assert together == apart
    [org] = together["organisation_view"]
    assert (org["state"], org["name"]) == (
        "active",
        "Orchestra of the Swan",
    )  # later changes reached the inserted row
    assert [a["headcount"] for a in together["activity_view"]] == [12]  # the last correction wins
    assert [a["ended_on"] is not None for a in together["agreement_view"]] == [True]


def test_participants_are_stored_as_their_json_dump() -> None:
    """The hand-built row must stay the model's JSON dump, column for column, as contracts grow."""
    from services.reporting.models.activities import ParticipationView
    from services.reporting.projections.activities import _pupil_values
    from shared.contracts.activities import Participant

    pupil = Participant(
        participation_id=ACTIVITY,
        pseudonym="a" * 64,
        year_group="4",
        home_area="coventry",
        send="ehcp",
        ethnicity="asian",
        gender="male",
        fsm=True,
        school_urn="103690",
    )
    row = _pupil_values(pupil)
    assert row == {**pupil.model_dump(mode="json"), "participation_id": ACTIVITY}
    assert all(type(v) in (str, bool, type(None)) for v in row.values())
    # the change stamp is set where a batch is written (projections/writes.py, stamp_writes)
    set_by_projector = {"node", "activity_id", "academic_year", "withdrawn", "event_id"}
    assert set(row) | set_by_projector | {"change_stamp"} == set(
        ParticipationView.__table__.c.keys()
    )


async def test_an_update_queued_before_a_foldable_one_keeps_its_place(tmp_path: Path) -> None:
    """Insert; an update the insert cannot absorb (a column it lacks); then one it could: folding
    the second into the insert would let the first, sent later, overwrite it."""
    from sqlalchemy import Column, Integer, MetaData, String, Table
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.reporting.ingest.bulk import execute
    from services.reporting.models.base import UPDATED_BY_KEY
    from services.reporting.projections.writes import Insert, Update

    table = Table(
        "t",
        MetaData(),
        Column("k", String, primary_key=True),
        Column("a", Integer),
        Column("c", Integer),
        info=UPDATED_BY_KEY,
    )
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'fold.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
        async with AsyncSession(engine) as session, session.begin():
            await execute(
                session,
                [
                    Insert(table, {"k": "x", "a": 0}),
                    Update(table, {"k": "x"}, {"a": 1, "c": 1}),
                    Update(table, {"k": "x"}, {"a": 2}),
                ],
            )
            assert (await session.execute(select(table.c.a, table.c.c))).one() == (2, 1)
    finally:
        await engine.dispose()


async def test_a_bulk_load_inserts_the_same_rows_in_statements_of_many_rows(tmp_path: Path) -> None:
    """In `many_rows_per_statement` (the rebuild), 2,347 rows go as statements of 2,048, 256, 32 and
    8 rows and an executemany of the last 3, with the same conversions: the table one executemany
    makes."""
    from datetime import datetime

    from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, MetaData, String, Table, event
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.reporting.ingest.bulk import insert_many, many_rows_per_statement

    table = Table(
        "t",
        MetaData(),
        Column("k", String, primary_key=True),
        Column("n", Integer),
        Column("flag", Boolean),
        Column("at", DateTime(timezone=True)),
        Column("tags", JSON),
    )
    rows = [
        {
            "k": f"row{i:04}",
            "n": i if i % 7 else None,
            "flag": i % 3 == 0,
            "at": datetime(2025, 1, 1, i % 24, tzinfo=UTC),
            "tags": ["ŵ", i],
        }
        for i in range(2347)
    ]

    async def insert(name: str, bulk: bool) -> tuple[list[tuple[Any, ...]], list[int]]:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / name}")
        sent: list[int] = []  # rows per statement (an executemany counts its rows)
        event.listen(
            engine.sync_engine,
            "before_cursor_execute",
            lambda _c, _cur, sql, params, _ctx, many: (
                sent.append(len(params) if many else sql.count("(?"))
                if sql.startswith("INSERT")
                else None
            ),
        )
        try:
            async with engine.begin() as conn:
                await conn.run_sync(table.metadata.create_all)
            async with AsyncSession(engine) as session, session.begin():
                if bulk:
                    with many_rows_per_statement():
                        await insert_many(session, table, rows)
                else:
                    await insert_many(session, table, rows)
            async with AsyncSession(engine) as session:
                return [
                    tuple(r) for r in await session.execute(select(table).order_by(table.c.k))
                ], sent
        finally:
            await engine.dispose()

    plain, plain_sent = await insert("plain.db", bulk=False)
    bulk, bulk_sent = await insert("bulk.db", bulk=True)
    assert (plain_sent, bulk_sent) == ([2347], [2048, 256, 32, 8, 3])
    assert bulk == plain and len(bulk) == 2347
    assert bulk[3][1:] == (3, True, datetime(2025, 1, 1, 3), ["ŵ", 3])  # read back as written


async def test_dates_and_times_are_stored_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    """The bulk writer, below SQLAlchemy's per-row processing, stores dates and times as its insert
    does: aware, naive, another zone, no microseconds, a date in a datetime column, None, and a
    column's own storage format."""
    from datetime import date, datetime, timedelta, timezone

    from sqlalchemy import Column, Date, DateTime, Integer, MetaData, String, Table, text
    from sqlalchemy.dialects.sqlite import DATETIME
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.reporting.ingest.bulk import insert_many

    table = Table(
        "t",
        MetaData(),
        Column("k", Integer, primary_key=True),
        Column("at", DateTime(timezone=True)),
        Column("on", Date),
        Column(
            "minute",
            DATETIME(  # type: ignore[no-untyped-call]
                storage_format="%(year)04d/%(month)02d/%(day)02d %(hour)02d"
            ),
        ),
        Column("why", String),
    )
    moments: list[datetime | date | None] = [
        datetime(2026, 12, 6, 20, 43, 1, 123456, tzinfo=UTC),
        datetime(2026, 12, 6, 20, 43, tzinfo=UTC),
        datetime(1999, 1, 2, 3, 4, 5, 6),
        datetime(2026, 3, 29, 1, 30, 0, 500, tzinfo=timezone(timedelta(hours=-5))),
        date(2026, 2, 28),
        None,
    ]
    rows: list[dict[str, Any]] = [
        {
            "k": i,
            "at": at,
            "on": at.date() if isinstance(at, datetime) else at,
            "minute": at,
            "why": "x",
        }
        for i, at in enumerate(moments)
    ]
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'times.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
        async with AsyncSession(engine) as session, session.begin():
            await insert_many(session, table, rows)
            await session.execute(table.insert(), [r | {"k": r["k"] + 100} for r in rows])
        async with engine.connect() as conn:
            stored = (await conn.execute(text('SELECT k, at, "on", minute FROM t'))).all()
    finally:
        await engine.dispose()
    ours = {k: r for k, *r in stored if k < 100}
    theirs = {k - 100: r for k, *r in stored if k >= 100}
    assert ours == theirs and len(ours) == len(moments)
    assert ours[0] == ["2026-12-06 20:43:01.123456", "2026-12-06", "2026/12/06 20"]
