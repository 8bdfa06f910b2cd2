"""Every view and the audit on SQLite and PostgreSQL: events ingested directly (as the consumer
does), figures by hand, and tampering found on either database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text

from services.reporting.app import build_service
from services.reporting.ingest.apply import Incoming
from services.reporting.ingest.audit import verify
from services.reporting.read.catalogue import VIEWS, run_view
from services.reporting.read.params import ViewParams
from services.reporting.read.views.partners import organisation_rows
from services.reporting.settings import ReportingSettings
from shared.settings import HubSettings
from shared.subjects import event_subject
from tests.test_contracts import envelope_for

SAMPLES = Path(__file__).parent / "samples"
WCET, ENSEMBLE = "01a2011f-0000-7000-8000-0000000000a1", "01a2011f-0000-7000-8000-0000000000a2"
PUPIL = "6" * 64


def sample(name: str, **changes: Any) -> dict[str, Any]:
    return {**json.loads((SAMPLES / f"{name}.json").read_text()), **changes}


def participation(activity_id: str, year: str, pid: str) -> dict[str, Any]:
    body = sample("ParticipationRecorded.v1", activity_id=activity_id, academic_year=year)
    body["participants"] = [
        {**body["participants"][0], "participation_id": pid, "pseudonym": PUPIL}
    ]
    return body


def batch(hub: str) -> list[Incoming]:
    """Posted in an order unlike their dates: the 2023-24 WCET arrives after the
    2024-25 ensemble."""
    events = [
        ("partners", "SettingAdded", 1, sample("SettingAdded.v1")),
        (
            "activities",
            "ActivityDelivered",
            2,
            sample(
                "ActivityDelivered.v2",
                activity_id=ENSEMBLE,
                kind="ensemble",
                level="intermediate",
                academic_year="2024-25",
            ),
        ),
        (
            "activities",
            "ParticipationRecorded",
            1,
            participation(ENSEMBLE, "2024-25", "01a2011f-0000-7000-8000-0000000000b1"),
        ),
        (
            "activities",
            "ActivityDelivered",
            2,
            sample(
                "ActivityDelivered.v2",
                activity_id=WCET,
                kind="wcet",
                level="beginner",
                setting_urn="103690",
                starts_on="2023-09-04",
                ends_on="2024-07-19",
                academic_year="2023-24",
                area="coventry",
            ),
        ),
        (
            "activities",
            "ParticipationRecorded",
            1,
            participation(WCET, "2023-24", "01a2011f-0000-7000-8000-0000000000b2"),
        ),
        ("funding", "IncomeRecorded", 1, sample("IncomeRecorded.v1", amount_pence=400_00)),
        (
            "funding",
            "IncomeRecorded",
            1,
            sample(
                "IncomeRecorded.v1",
                entry_id="01a2011f-0000-7000-8000-0000000000c1",
                source="trusts",
                amount_pence=100_00,
            ),
        ),
        ("partners", "OrganisationRegistered", 1, sample("OrganisationRegistered.v1")),
    ]
    out, sequences = [], {}
    for i, (service, event_type, version, payload) in enumerate(events, start=1):
        sequences[service] = sequences.get(service, 0) + 1
        raw = envelope_for(
            event_type,
            version,
            payload,
            hub=hub,
            node="coventry",
            service=service,
            sequence=sequences[service],
        )
        out.append(Incoming(event_subject(hub, "coventry", service, event_type, version), raw, i))
    return out


async def test_views_and_audit_on_each_database(settings: HubSettings, database_url: str) -> None:
    settings = settings.model_copy(
        update={"nodes": ["coventry", "warwickshire", "solihull"]}
    )  # the samples name all three
    reporting = build_service(settings, "", ReportingSettings(database_url=database_url))
    await reporting.start(consume=False)
    try:
        messages = batch(settings.hub)
        assert (await reporting.ingest(messages)).applied == 8
        stream = {m.stream_seq: m.data for m in messages}

        async def fetch(seq: int) -> tuple[bytes, None] | None:
            data = stream.get(seq)
            return None if data is None else (data, None)  # unsigned: no proof headers

        params = ViewParams(hub=settings.hub, nodes=["coventry"], period="2023-24")
        async with reporting.read_sessions() as session:
            results = {name: await run_view(session, name, params) for name in VIEWS}
            later = await run_view(
                session,
                "funding",
                ViewParams(hub=settings.hub, nodes=["coventry"], period="2024-25"),
            )
            clean = await verify(session, fetch)
        assert all(r.stamp.applied_events == 8 for r in results.values())
        async with reporting.read_sessions() as session:  # lists as each database hands them back
            rows = await organisation_rows(session)
        (registered,) = [r for r in rows if r.name == "Arts Council England"]
        assert (registered.roles, registered.areas) == (["funder"], [])
        wcet = results["schools"].wcet  # type: ignore[attr-defined]
        assert (wcet.pupils, wcet.continued, str(wcet.continuation_share)) == (1, 1, "100.0")
        assert results["schools"].areas[0].state_funded_share == 100  # type: ignore[attr-defined]
        assert (later.dfe_grant_pence, later.other_income_pence, str(later.leverage_ratio)) == (
            400_00,
            100_00,
            "0.25",
        )  # type: ignore[attr-defined]
        assert clean.ok and clean.stream_checked, clean.problems

        async with reporting.sessions() as session, session.begin():
            await session.execute(
                text("update activity_view set headcount = headcount + 1 where activity_id = :a"),
                {"a": WCET},
            )
            await session.execute(
                text("update applied_event set digest = :d where position = 5"), {"d": "0" * 64}
            )
        async with reporting.read_sessions() as session:
            offline = await verify(session)
            online = await verify(session, fetch)
        assert [(p.check, p.position) for p in offline.problems] == [("chain", 5)]
        assert {p.check for p in online.problems} == {"chain", "digest", "projection"}
    finally:
        await reporting.stop()
