"""hub node recover's parts that need no servers: every event a service publishes has a restorer,
and streams that disagree about a sequence are refused before anything changes."""

from __future__ import annotations

import json

import pytest

from hub.commands.recover import restorers
from shared.contracts import all_contracts
from shared.envelope import parse_event
from shared.node_recovery import RecoveryRefused, StoredEvent, merge
from tests.test_contracts import SAMPLES, envelope_for


@pytest.mark.parametrize("contract", all_contracts(), ids=lambda c: f"{c.event_type}.v{c.version}")
def test_every_published_event_type_has_a_restorer_in_its_service(contract) -> None:  # type: ignore[no-untyped-def]
    assert contract.event_type in restorers(contract.service), (
        f"services/{contract.service}/restore.py cannot bring {contract.event_type} back after a "
        "restore"
    )


def stored(sequence: int) -> StoredEvent:
    data = envelope_for(
        "AgreementEnded",
        1,
        json.loads((SAMPLES / "AgreementEnded.v1.json").read_text()),
        service="partners",
        sequence=sequence,
    )
    return StoredEvent(
        "hl.heart-of-england.coventry.partners.AgreementEnded.v1", data, parse_event(data)
    )


def test_the_same_event_in_both_streams_is_restored_once_and_different_ones_are_refused() -> None:
    one, two = stored(3), stored(4)
    assert [s.event.envelope.sequence for s in merge({3: one, 4: two}, {3: one})] == [3, 4]
    with pytest.raises(RecoveryRefused, match="sequence 3 is event"):
        merge({3: one}, {3: stored(3)})


# Columns a restore cannot take from events: node-private data that never leaves the node, and the
# moment a row was written (its event carries the moment it was committed, microseconds apart).
NOT_IN_EVENTS = {
    "organisation": {
        "contact_name",
        "contact_email",
        "offer",
        "aims",
        "identifiers",
        "registered_at",
    },
    "participation": {"upn"},
    "education_setting": {"status"},
    "activity": {"source_key", "recorded_at"},
    "state_change": {"change_id"},
    "agreement": {"signed_at"},
    "ledger_entry": {"recorded_at"},
    "budget": {"recorded_at", "budget_seq"},
    "school_population": {"recorded_at"},
}


async def test_a_node_recovered_from_nothing_but_its_events_has_the_same_tables(
    system, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """The whole sample hub written at two nodes, then each service of coventry restored into an
    empty database from the hub stream alone: every table equal, but for what events never carry."""
    import random

    from sqlalchemy import select

    from harness.sample import SampleLoad, SampleWriter, activities, funding, partners
    from hub.runner import NODE_SERVICES
    from shared.bus import connect
    from shared.identity import SERVICES
    from shared.node_position import last_sequence, service_subjects
    from shared.node_recovery import recover
    from shared.subjects import hub_stream, node_stream

    clients = {(n, s): system.client(n, s) for n in system.settings.nodes for s in SERVICES}
    writer = SampleWriter(clients, SampleLoad(), random.Random(7))
    await partners.load(writer, system.settings.nodes)
    await activities.load(writer, system.settings.nodes, 4)
    await funding.load(writer, system.settings.nodes)
    for client in clients.values():
        await client.aclose()
    changes = await mistakes_put_right(system)
    await system.report_when(lambda r: r.stamp.applied_events >= writer.load.total + changes, 60)

    empty = system.settings.model_copy(update={"data_dir": tmp_path / "restored"})
    nc = await connect(system.nats_url, "test-recover")
    try:
        for service in SERVICES:
            original = system.services[("coventry", service)]
            restored = NODE_SERVICES[service].build_service(empty, "coventry", nats_url="")
            await restored.start(relay=False)
            try:
                subjects = service_subjects(system.settings.hub, "coventry", service)
                in_node = await last_sequence(
                    nc.jetstream(), node_stream(system.settings.hub, "coventry"), subjects
                )
                done = await recover(
                    restored.sessions,
                    restored.outbox,
                    restorers(service),
                    [(nc.jetstream(), hub_stream(system.settings.hub))],
                    in_node,
                )
                assert done.restored > 0
                for table in original.metadata.sorted_tables:
                    skip = NOT_IN_EVENTS.get(table.name, set())
                    columns = [c for c in table.c if c.name not in skip]
                    async with original.read_sessions() as a, restored.read_sessions() as b:
                        mine = sorted(map(tuple, await a.execute(select(*columns))), key=repr)
                        theirs = sorted(map(tuple, await b.execute(select(*columns))), key=repr)
                    assert theirs == mine, f"{service}.{table.name} differs after recovery"
            finally:
                await restored.stop()
    finally:
        await nc.close()


async def mistakes_put_right(system) -> int:  # type: ignore[no-untyped-def]
    """At coventry, every change the sample does not make: details changed, an agreement ended, an
    activity corrected and another withdrawn, pupils withdrawn, a spend reversed. Returns the
    writes."""
    from sqlalchemy import select

    from services.activities.models import ActivityRow, ParticipationRow
    from services.activities.services import RecordActivity
    from services.funding.models import LedgerEntryRow
    from services.partners.models import AgreementRow

    def one(service: str, query):  # type: ignore[no-untyped-def]
        async def run():  # type: ignore[no-untyped-def]
            async with system.services[("coventry", service)].read_sessions() as session:
                return (await session.execute(query)).first()

        return run()

    agreement = await one(
        "partners",
        select(AgreementRow.agreement_id, AgreementRow.organisation_id, AgreementRow.starts_on),
    )
    part = await one("activities", select(ParticipationRow.activity_id, ParticipationRow.upn))
    others = select(ActivityRow).where(
        ActivityRow.activity_id != part.activity_id, ActivityRow.partner_return_id.is_(None)
    )
    async with system.services[("coventry", "activities")].read_sessions() as session:
        corrected, withdrawn = (await session.scalars(others.limit(2))).all()
    spend = await one(
        "funding", select(LedgerEntryRow.entry_id).where(LedgerEntryRow.kind == "expenditure")
    )
    fields = {
        name: getattr(corrected, name)
        for name in RecordActivity.model_fields
        if hasattr(corrected, name)
    }
    body = {**fields, "headcount": corrected.headcount + 1, "reason": "miscounted"}
    writes = [
        (
            "partners",
            "PATCH",
            f"/organisations/{agreement.organisation_id}",
            {"name": "Renamed Partner"},
        ),
        (
            "partners",
            "POST",
            f"/agreements/{agreement.agreement_id}/end",
            {"ended_on": str(agreement.starts_on)},
        ),
        ("activities", "POST", f"/activities/{corrected.activity_id}/correct", body),
        (
            "activities",
            "POST",
            f"/activities/{withdrawn.activity_id}/withdraw",
            {"reason": "recorded twice"},
        ),
        (
            "activities",
            "POST",
            f"/activities/{part.activity_id}/participants/withdraw",
            {"upns": [part.upn], "reason": "left"},
        ),
        (
            "funding",
            "POST",
            "/reversals",
            {"entry_id": spend.entry_id, "reversed_on": "2025-12-01", "reason": "wrong payee"},
        ),
    ]
    for service, method, path, payload in writes:
        async with system.client("coventry", service) as client:
            response = await client.request(
                method,
                path,
                content=json.dumps(payload, default=str),
                headers={"content-type": "application/json"},
            )
        assert response.status_code < 300, (path, response.text)
    return len(writes)
