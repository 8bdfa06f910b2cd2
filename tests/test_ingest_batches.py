"""A batch is written whole, and when the database refuses it, again one event at a time: the event
it refuses is dead-lettered, the rest applied, and the positions are those of the rest alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.reporting.app import build_service
from services.reporting.ingest.apply import Incoming, IngestOutcome
from services.reporting.models import ProducerPositionRow
from services.reporting.read.queries import ReportStamp, report_stamp
from services.reporting.settings import ReportingSettings
from shared.envelope import new_event_id
from shared.settings import HubSettings
from tests.test_reporting_ingest import incoming, org_event


def registered(hub: str, sequence: int, organisation_id: str) -> bytes:
    """An OrganisationRegistered of `organisation_id` (coventry's partners, at `sequence`)."""
    raw = json.loads(org_event(hub, sequence=sequence))
    raw["payload"]["organisation_id"] = organisation_id
    return json.dumps(raw).encode()


async def ingested(
    settings: HubSettings, database_url: str, batch: list[Incoming]
) -> tuple[IngestOutcome, ReportStamp, list[dict[str, Any]]]:
    """What the consumer makes of `batch` on an empty database: its outcome, the stamp and the
    producers' rows."""
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    try:
        outcome = await service.ingest(batch)
        async with service.read_sessions() as session:
            stamp = await report_stamp(session)
            table = ProducerPositionRow.__table__
            producers = [dict(r._mapping) for r in await session.execute(select(table))]
        return outcome, stamp, producers
    finally:
        await service.stop()


async def test_the_event_the_database_refuses_is_dead_lettered_and_the_rest_applied(
    settings: HubSettings, database_url: str, tmp_path: Path
) -> None:
    hub, taken = settings.hub, str(new_event_id())
    first, later = registered(hub, 1, taken), org_event(hub, sequence=3)
    clash = registered(hub, 2, taken)  # another event registering the same organisation: its row
    batch = [incoming(hub, first, 1), incoming(hub, clash, 2), incoming(hub, later, 3)]

    outcome, stamp, producers = await ingested(settings, database_url, batch)

    assert (outcome.applied, outcome.duplicates) == (2, 0)
    [(refused, reason)] = outcome.dead
    assert refused.stream_seq == 2
    assert reason.startswith("rejected by projection:")
    assert outcome.newest_recorded_at is not None
    [producer] = producers
    assert (producer["applied"], producer["max_sequence"]) == (2, 3)
    assert producer["last_event_id"] == json.loads(later)["event_id"]
    assert stamp.hub_stream_seq == 3

    # the chain and counts are those of the two good events applied without the refused one
    _, alone, its_producers = await ingested(
        settings,
        f"sqlite+aiosqlite:///{tmp_path / 'alone.db'}",
        [incoming(hub, first, 1), incoming(hub, later, 3)],
    )
    assert alone == stamp
    counts = ("max_sequence", "applied", "last_event_id", "reused", "refused")
    assert [[p[c] for c in counts] for p in its_producers] == [[producer[c] for c in counts]]


async def test_an_applied_id_reused_under_a_later_sequence_is_refused_with_its_reason(
    settings: HubSettings, database_url: str
) -> None:
    """The usual batch looks up only ids at or below their producer's highest sequence (where a
    redelivery sits); an applied event's id reused with other content under a later sequence is
    refused by the table's key, and the batch written one event at a time says why."""
    hub = settings.hub
    first = org_event(hub, sequence=1)
    reused = json.loads(org_event(hub, sequence=3))
    reused["event_id"] = json.loads(first)["event_id"]
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    try:
        assert (await service.ingest([incoming(hub, first, 1)])).applied == 1
        outcome = await service.ingest(
            [
                incoming(hub, org_event(hub, sequence=2), 2),
                incoming(hub, json.dumps(reused).encode(), 3),
                incoming(hub, org_event(hub, sequence=4), 4),
            ]
        )
        async with service.read_sessions() as session:
            stamp = await report_stamp(session)
    finally:
        await service.stop()
    assert outcome.applied == 2
    assert [(m.stream_seq, reason) for m, reason in outcome.dead] == [
        (3, f"event id {reused['event_id']} already applied with different content")
    ]
    assert (stamp.applied_events, stamp.hub_stream_seq) == (3, 4)
