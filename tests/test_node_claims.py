"""A node's key cannot impersonate its own producers: reporting dead-letters a sequence number
reused under another event id and a payload naming a node it may not (another's area, a node
outside the hub), and data health shows both apart from the gaps, never a negative count. A node's
"alloc. in" is what it recorded receiving; no 360Giving grant goes from an organisation to
itself."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from hub.cli import app as hub_app
from services.reporting.app import build_service
from services.reporting.ingest.apply import Incoming
from services.reporting.ingest.consumer import ReportingService
from services.reporting.ingest.rebuild import rebuild
from services.reporting.read.exports.giving360 import build_grants
from services.reporting.read.queries import data_health, hub_report
from services.reporting.settings import ReportingSettings
from shared.bus import connect
from shared.nats_server import NatsServer
from shared.settings import HubSettings
from shared.subjects import event_subject
from tests.helpers import System, organisation
from tests.test_contracts import envelope_for

SAMPLES = Path(__file__).parent / "samples"


def sample(event_type: str, **changes: object) -> dict:
    return {**json.loads((SAMPLES / f"{event_type}.v1.json").read_text()), **changes}


class Stream:
    """Messages as a node would publish them: envelopes numbered per (node, service) unless told."""

    def __init__(self, hub: str) -> None:
        self.hub = hub
        self.position = 0

    def message(
        self,
        node: str,
        service: str,
        sequence: int,
        event_type: str,
        payload: dict,
        event_id: str | None = None,
    ) -> Incoming:
        self.position += 1
        raw = envelope_for(
            event_type,
            1,
            payload,
            hub=self.hub,
            node=node,
            service=service,
            sequence=sequence,
            **({"event_id": event_id} if event_id else {}),
        )
        return Incoming(event_subject(self.hub, node, service, event_type, 1), raw, self.position)


@pytest.fixture
async def reporting(settings: HubSettings) -> AsyncIterator[ReportingService]:
    """Reporting with its database where `hub data-health --data-dir` looks for it."""
    service = build_service(settings, "", ReportingSettings(database_url=None))
    await service.start(consume=False)
    yield service
    await service.stop()


def org(name: str) -> dict:
    return sample("OrganisationRegistered", organisation_id=str(uuid.uuid4()), name=name)


async def test_a_reused_sequence_is_dead_lettered_and_counted_apart_from_gaps(
    reporting: ReportingService, settings: HubSettings, nats_server: NatsServer
) -> None:
    s = Stream(settings.hub)
    first = s.message("coventry", "partners", 1, "OrganisationRegistered", org("Genuine"))
    outcome = await reporting.ingest(
        [first, s.message("coventry", "partners", 2, "OrganisationRegistered", org("Two"))]
    )
    assert (outcome.applied, outcome.dead) == (2, [])
    applied_as = json.loads(first.data)["event_id"]

    reuse = s.message("coventry", "partners", 1, "OrganisationRegistered", org("Impostor"))
    in_batch = [
        s.message("coventry", "partners", 5, "OrganisationRegistered", org("Five")),
        s.message("coventry", "partners", 5, "OrganisationRegistered", org("Five again")),
        s.message("coventry", "partners", 4, "OrganisationRegistered", org("Four, late")),
    ]
    outcome = await reporting.ingest([reuse, *in_batch])
    reasons = {json.loads(m.data)["event_id"]: why for m, why in outcome.dead}
    reuser = json.loads(reuse.data)["event_id"]
    assert (
        reasons[reuser]
        == f"sequence 1 of coventry/partners reused by event {reuser}; applied as {applied_as}"
    )
    second = json.loads(in_batch[1].data)["event_id"]
    assert reasons[second].startswith(
        f"sequence 5 of coventry/partners reused by event {second}; applied as "
    )
    assert outcome.applied == 2, "seq 5 once, and seq 4 arriving late still fills its gap"
    again = await reporting.ingest([reuse])  # redelivered: refused again, never applied
    assert again.applied == 0 and len(again.dead) == 1

    async with reporting.read_sessions() as session:
        [health] = await data_health(session)
        names = {n for (n,) in await session.execute(text("SELECT name FROM organisation_view"))}
    assert (
        health.last_sequence,
        health.applied,
        health.missing,
        health.reused,
        health.refused,
    ) == (5, 4, 1, 3, 0)
    assert names == {"Genuine", "Two", "Five", "Four, late"}
    shown = await asyncio.to_thread(
        CliRunner().invoke,
        hub_app,
        ["data-health", "--json", "--data-dir", str(settings.data_dir)],
        env={
            "HUB_HUB": settings.hub,
            "HUB_NODES": json.dumps(settings.nodes),
            "HUB_NATS_URL": nats_server.url,
        },
    )
    assert shown.exit_code == 0, shown.output
    [row] = [r for r in json.loads(shown.output) if r["node"] == "coventry"]
    assert (row["missing"], row["reused"], row["refused"]) == (1, 3, 0), shown.output


async def test_a_payload_naming_another_nodes_area_or_a_node_outside_the_hub_is_dead_lettered(
    reporting: ReportingService, settings: HubSettings
) -> None:
    s = Stream(settings.hub)
    own = s.message(
        "coventry", "partners", 1, "SchoolPopulationRecorded", sample("SchoolPopulationRecorded")
    )
    others = s.message(
        "coventry",
        "partners",
        2,
        "SchoolPopulationRecorded",
        sample("SchoolPopulationRecorded", area="solihull", la_code="334"),
    )
    stranger = s.message(
        "coventry", "funding", 1, "FundsAllocated", sample("FundsAllocated", to_node="birmingham")
    )
    corrected = sample("ActivityCorrected")
    elsewhere = s.message(
        "solihull",
        "activities",
        1,
        "ActivityCorrected",
        {**corrected, "activity": {**corrected["activity"], "area": "birmingham"}},
    )
    outcome = await reporting.ingest([own, others, stranger, elsewhere])
    assert outcome.applied == 1
    assert [why for _, why in outcome.dead] == [
        "SchoolPopulationRecorded area: 'solihull' is not this node's own: must be 'coventry' "
        "(published by 'coventry')",
        "FundsAllocated to_node: 'birmingham' is not one of the hub's nodes: one of coventry, "
        "solihull (published by 'coventry')",
        "ActivityCorrected area: 'birmingham' is not one of the hub's nodes: one of coventry, "
        "solihull (published by 'solihull')",
    ]
    async with reporting.read_sessions() as session:
        health = {(h.node, h.service): h for h in await data_health(session)}
        pupils = (
            await session.execute(text("SELECT area, pupils FROM school_population_view"))
        ).all()
    assert pupils == [("coventry", 1000)], (
        "Solihull's figures were not replaced by Coventry's claim"
    )
    assert {k: (h.applied, h.missing, h.refused) for k, h in health.items()} == {
        ("coventry", "partners"): (1, 0, 1),
        ("coventry", "funding"): (0, 0, 1),
        ("solihull", "activities"): (0, 0, 1),
    }
    # the refused event's sequence is a gap once the next arrives: missing counts it,
    # never below zero
    assert (
        await reporting.ingest(
            [s.message("coventry", "partners", 3, "OrganisationRegistered", org("Three"))]
        )
    ).applied == 1
    async with reporting.read_sessions() as session:
        after = {(h.node, h.service): h for h in await data_health(session)}
    assert (after[("coventry", "partners")].missing, after[("coventry", "partners")].refused) == (
        1,
        1,
    )


async def test_alloc_in_counts_receipts_and_no_grant_goes_to_oneself(
    reporting: ReportingService, settings: HubSettings
) -> None:
    s = Stream(settings.hub)
    grant = str(uuid.uuid4())
    to_solihull, to_self = str(uuid.uuid4()), str(uuid.uuid4())
    link = [{"entry_id": grant, "amount_pence": 1000}]
    lead = sample(
        "OrganisationRegistered",
        organisation_id=str(uuid.uuid4()),
        name="Coventry Music",
        roles=["collaborative_lead"],
        org_id="GB-LAE-COV",
    )
    batch = [
        s.message("coventry", "partners", 1, "OrganisationRegistered", lead),
        s.message(
            "coventry",
            "funding",
            1,
            "IncomeRecorded",
            sample("IncomeRecorded", entry_id=grant, amount_pence=5000, area=None),
        ),
        s.message(
            "coventry",
            "funding",
            2,
            "FundsAllocated",
            sample(
                "FundsAllocated",
                entry_id=to_solihull,
                to_node="solihull",
                amount_pence=1000,
                funded_from=link,
            ),
        ),
        # recorded before nodes refused it: a lead's own share sent to itself
        s.message(
            "coventry",
            "funding",
            3,
            "FundsAllocated",
            sample(
                "FundsAllocated",
                entry_id=to_self,
                to_node="coventry",
                amount_pence=1000,
                funded_from=link,
            ),
        ),
        s.message(
            "solihull",
            "funding",
            1,
            "FundsReceived",
            sample(
                "FundsReceived", from_node="coventry", sender_entry_id=to_solihull, amount_pence=600
            ),
        ),
    ]
    outcome = await reporting.ingest(batch)
    assert (outcome.applied, outcome.dead) == (5, [])
    async with reporting.read_sessions() as session:
        report = await hub_report(session, settings.hub, settings.nodes)
        grants = await build_grants(session, "hub")
    nodes = {n.node: n for n in report.nodes}
    assert nodes["solihull"].allocated_in_pence == 600, (
        "what Solihull recorded receiving, not what was sent"
    )
    assert (
        nodes["coventry"].allocated_in_pence == 0 and nodes["coventry"].allocated_out_pence == 2000
    )
    assert [g["id"] for g in grants] == [f"360G-hub-{to_solihull}"]


async def test_a_rebuild_refuses_the_same_reused_sequence_and_ends_where_live_did(
    system: System, settings: HubSettings
) -> None:
    assert (
        await system.post("coventry", "partners", "/organisations", organisation("Genuine"))
    ).status_code == 201
    await system.report_when(lambda r: r.stamp.applied_events >= 1)
    raw = envelope_for(
        "OrganisationRegistered",
        1,
        org("Impostor"),
        hub=settings.hub,
        node="coventry",
        service="partners",
        sequence=1,
    )
    nc = await connect(system.nats_url, "test-impostor")
    await nc.jetstream().publish(
        event_subject(settings.hub, "coventry", "partners", "OrganisationRegistered", 1), raw
    )
    assert (
        await system.post("coventry", "partners", "/organisations", organisation("Second"))
    ).status_code == 201
    live = await system.report_when(
        lambda r: r.stamp.applied_events >= 2 and r.stamp.hub_stream_seq >= 3
    )
    async with system.reporting.read_sessions() as session:
        live_health = await data_health(session)
    assert [(h.applied, h.missing, h.reused) for h in live_health] == [(2, 0, 1)]

    rebuilt = build_service(
        settings,
        system.nats_url,
        ReportingSettings(database_url=f"sqlite+aiosqlite:///{settings.data_dir / 'rebuilt.db'}"),
    )
    await rebuilt.start(consume=False)
    try:
        result = await rebuild(rebuilt, nc, batch_size=2, workers=0)
        async with rebuilt.read_sessions() as session:
            again = await hub_report(session, settings.hub, settings.nodes)
            health = await data_health(session)
    finally:
        await nc.close()
        await rebuilt.stop()
    assert (result.applied, result.refused) == (2, 1)
    assert again.stamp == live.stamp and again.totals == live.totals
    assert [h.model_dump(exclude={"last_recorded_at"}) for h in health] == [
        h.model_dump(exclude={"last_recorded_at"}) for h in live_health
    ]


async def test_the_hostile_drill_sees_reuse_and_another_nodes_area_refused(tmp_path: Path) -> None:
    """`hub reliability`'s hostile input includes both claims; each is refused for what it is and
    the totals do not move."""
    from harness.reliability.hostile import HostileResult, try_events

    result = HostileResult()
    await try_events(tmp_path, seed=1, mutations=3, result=result)
    assert not result.failures and result.totals_unchanged
    assert result.outcomes["dead-lettered: reused by event"] == 1
    assert result.outcomes["dead-lettered: not this node's own"] == 1
