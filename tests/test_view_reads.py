"""Views read shared rows once per transaction: within one they agree, across two they are fresh."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert

from services.reporting.app import build_service
from services.reporting.models.activities import ActivityView, ParticipationView
from services.reporting.models.partners import SettingView
from services.reporting.read.views import pupils
from services.reporting.read.views.accountability import pupil_records, schools_report
from services.reporting.settings import ReportingSettings
from shared.settings import HubSettings


def setting(urn: str) -> dict[str, object]:
    return {
        "node": "coventry",
        "urn": urn,
        "organisation_id": urn,
        "area": "coventry",
        "la_code": "331",
        "phase": "Primary",
        "setting_type": "Community school",
        "state_funded": True,
    }


async def test_a_session_reads_afresh_in_its_next_transaction(
    settings: HubSettings, tmp_path: Path
) -> None:
    service = build_service(
        settings, "", ReportingSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    )
    await service.start(consume=False)
    try:
        async with service.sessions() as writer, writer.begin():
            await writer.execute(insert(SettingView.__table__), [setting("100001")])
        async with service.read_sessions() as session:
            first = await schools_report(session, "2024-25")
            assert (
                await schools_report(session, "2024-25") is first
            )  # the same transaction: read once
            await session.commit()
            async with service.sessions() as writer, writer.begin():
                await writer.execute(insert(SettingView.__table__), [setting("100002")])
            later = await schools_report(session, "2024-25")
        assert [a.state_funded_schools for a in first.areas] == [1]
        assert [a.state_funded_schools for a in later.areas] == [2]
    finally:
        await service.stop()


def activity_row(node: str, activity_id: str, year: str | None) -> dict[str, object]:
    return {
        "node": node,
        "activity_id": activity_id,
        "kind": "tuition",
        "title": activity_id,
        "area": node,
        "starts_on": date(2024, 9, 2),
        "ends_on": date(2025, 7, 18),
        "hours": Decimal("10.00"),
        "headcount": 1,
        "level": "beginner",
        "functions": ["schools"],
        "event_id": activity_id,
        "academic_year": year,
    }


def participation_row(
    node: str, participation_id: str, activity_id: str, withdrawn: bool = False
) -> dict[str, object]:
    return {
        "node": node,
        "participation_id": participation_id,
        "activity_id": activity_id,
        "academic_year": "2024-25",
        "pseudonym": participation_id * 8,
        "year_group": "4",
        "send": "none",
        "fsm": False,
        "looked_after": False,
        "ethnicity": "white",
        "gender": "female",
        "school_urn": "103690",
        "home_area": node,
        "withdrawn": withdrawn,
        "event_id": participation_id,
    }


async def test_a_years_pupils_find_their_activities_whatever_year_the_activity_records(
    settings: HubSettings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Activities are read for the year, then by key for pupils whose activity records another year
    or none (ActivityDelivered v1 has none), a query per key here; withdrawn pupils and pupils of an
    activity never delivered are left out."""
    monkeypatch.setattr(pupils, "_KEYS_PER_QUERY", 1)
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    try:
        async with service.sessions() as writer, writer.begin():
            await writer.execute(
                insert(ActivityView.__table__),
                [
                    activity_row("coventry", "this-year", "2024-25"),
                    activity_row("coventry", "no-year", None),
                    activity_row("solihull", "no-year", None),
                    activity_row("solihull", "last-year", "2023-24"),
                    activity_row("solihull", "unused", "2023-24"),
                ],
            )
            await writer.execute(
                insert(ParticipationView.__table__),
                [
                    participation_row("coventry", "p1", "this-year"),
                    participation_row("coventry", "p2", "no-year"),
                    participation_row("solihull", "p3", "no-year"),
                    participation_row("solihull", "p4", "last-year"),
                    participation_row("solihull", "p5", "last-year", withdrawn=True),
                    participation_row("solihull", "p6", "never-delivered"),
                ],
            )
        async with service.read_sessions() as session:
            records = await pupil_records(session, "2024-25")
        found = [(r.p.node, r.p.participation_id, r.a.node, r.a.activity_id) for r in records]
        assert found == [
            ("coventry", "p1", "coventry", "this-year"),
            ("coventry", "p2", "coventry", "no-year"),
            ("solihull", "p3", "solihull", "no-year"),
            ("solihull", "p4", "solihull", "last-year"),
        ]
    finally:
        await service.stop()
