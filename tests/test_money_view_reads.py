"""The funding views' cheaper reads give the figures the pupil records and the whole ledger give."""

from __future__ import annotations

import copy
import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import insert, select

from services.reporting.app import build_service
from services.reporting.models.activities import ActivityView, ParticipationView
from services.reporting.models.partners import OrganisationView
from services.reporting.read.params import Filters
from services.reporting.read.views import allocation
from services.reporting.read.views.accountability import activities_of, pupil_records
from services.reporting.read.views.funding import SourceFigures
from services.reporting.read.views.partners import OrganisationRow, organisation_rows
from services.reporting.settings import ReportingSettings
from shared.settings import HubSettings

YEAR = "2024-25"
NODES = ("coventry", "solihull")
AREAS = ("coventry", "solihull", "warwickshire")


def activity(
    node: str, activity_id: str, year: str | None, rng: random.Random
) -> dict[str, object]:
    return {
        "node": node,
        "activity_id": activity_id,
        "kind": rng.choice(["tuition", "wcet", "ensemble"]),
        "title": activity_id,
        "area": rng.choice(AREAS),
        "starts_on": date(2024, 9, 2),
        "ends_on": date(2025, 7, 18),
        "hours": Decimal(rng.randint(1, 4000)) / 100,
        "headcount": rng.randint(0, 30),
        "level": "beginner",
        "functions": rng.choice([["schools"], ["progression"], ["schools", "inclusion"]]),
        "aims": rng.choice([[], ["support_schools"]]),
        "event_id": activity_id,
        "academic_year": year,
    }


def participation(
    node: str, participation_id: str, activity_id: str, rng: random.Random
) -> dict[str, object]:
    return {
        "node": node,
        "participation_id": participation_id,
        "activity_id": activity_id,
        "academic_year": rng.choice([YEAR, YEAR, YEAR, "2023-24"]),
        "pseudonym": f"pupil-{rng.randint(1, 40)}",  # pupils in several activities and nodes
        "year_group": "4",
        "send": "none",
        "fsm": False,
        "looked_after": False,
        "ethnicity": "white",
        "gender": "female",
        "school_urn": "103690",
        "home_area": rng.choice(AREAS),
        "withdrawn": rng.random() < 0.2,
        "event_id": participation_id,
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_unit_costs_count_in_sql_what_the_pupil_records_hold(
    settings: HubSettings, tmp_path: Path, seed: int
) -> None:
    """Participations, unique pupils and hours for the unit costs, counted in SQL, equal what the
    year's pupil records and activities give under every filter: withdrawn pupils, pupils of an
    activity recorded under another year or never delivered, pupils at two nodes."""
    rng = random.Random(seed)
    service = build_service(
        settings, "", ReportingSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    )
    await service.start(consume=False)
    try:
        activities = [
            activity(node, f"a{i}", rng.choice([YEAR, YEAR, "2023-24", None]), rng)
            for node in NODES
            for i in range(12)
        ]
        participations = [
            participation(node, f"p{i}", f"a{rng.randint(0, 13)}", rng)  # a12, a13: never delivered
            for node in NODES
            for i in range(150)
        ]
        async with service.sessions() as writer, writer.begin():
            await writer.execute(insert(ActivityView.__table__), activities)
            await writer.execute(insert(ParticipationView.__table__), participations)
        filters = [Filters(), *(Filters(node=n) for n in NODES), *(Filters(area=a) for a in AREAS)]
        filters.append(Filters(node="solihull", area="coventry"))
        async with service.read_sessions() as session:
            for f in filters:
                records = await pupil_records(session, YEAR, f)
                hours = sum((a.hours for a in await activities_of(session, YEAR, f)), Decimal(0))
                assert records, f  # the data set exercises every filter
                assert await allocation._delivery_counts(session, YEAR, f) == (
                    len(records),
                    len({r.p.pseudonym for r in records}),
                ), f
                assert await allocation._hours(session, YEAR, f) == hours, f
    finally:
        await service.stop()


def test_a_source_held_in_a_result_is_frozen_so_copies_of_the_result_can_share_it() -> None:
    source = SourceFigures(
        node="coventry",
        entry_id="e1",
        kind="income",
        stream="revenue",
        funder="Arts Council England",
        received_pence=100,
        drawn_pence=40,
        remaining_pence=60,
    )
    assert copy.deepcopy([source])[0] is source
    with pytest.raises(ValidationError):
        source.drawn_pence = 0


async def test_organisation_rows_read_what_the_mapped_registrations_hold(
    settings: HubSettings, tmp_path: Path
) -> None:
    """The plain rows the organisations report and the 360Giving leads read (lists decoded once
    per distinct text) hold what the mapped registrations do, in node order."""
    rng = random.Random(4)
    service = build_service(
        settings, "", ReportingSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    )
    await service.start(consume=False)
    try:
        rows = [
            {
                "node": rng.choice(NODES),
                "organisation_id": f"o{i}",
                "org_id": rng.choice([None, "GB-CHC-1", "GB-CHC-2"]),
                "name": f"Partner {rng.randint(1, 5)}",
                "roles": rng.choice([["delivery_partner"], ["hub_lead", "school"], []]),
                "areas": rng.choice([["coventry"], ["coventry", "solihull"]]),
                "functions": rng.choice([["progression"], []]),
                "event_id": f"e{i}",
                "state": rng.choice([None, "active", "interest"]),
            }
            for i in range(60)
        ]
        async with service.sessions() as writer, writer.begin():
            await writer.execute(insert(OrganisationView.__table__), rows)
        async with service.read_sessions() as session:
            plain = await organisation_rows(session)
            mapped = (
                await session.scalars(
                    select(OrganisationView).order_by(
                        OrganisationView.node, OrganisationView.organisation_id
                    )
                )
            ).all()
        assert [tuple(r) for r in plain] == [
            tuple(getattr(o, f) for f in OrganisationRow._fields) for o in mapped
        ]
        assert len(plain) == 60
    finally:
        await service.stop()
