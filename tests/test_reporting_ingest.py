"""Reporting consumer: idempotent apply, dead letters with reasons, and it keeps going."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.js.api import AckPolicy

from services.reporting.ingest import consumer
from services.reporting.ingest.apply import Incoming, IngestOutcome, PreparedBatch
from services.reporting.read.queries import data_health
from shared.bus import connect
from shared.dead_letters import list_dead_letters
from shared.envelope import new_event_id
from shared.memory import collections_paused, collections_swept_every, kept_out_of_collections
from shared.subjects import event_subject, hub_stream
from tests.helpers import System, organisation, wait_for
from tests.test_contracts import envelope_for

ORG = json.loads(Path("tests/samples/OrganisationRegistered.v1.json").read_text())


def org_event(hub: str, node: str = "coventry", sequence: int = 1, **extra: object) -> bytes:
    payload = {**ORG, "organisation_id": str(new_event_id()), "org_id": None}
    raw = json.loads(
        envelope_for(
            "OrganisationRegistered",
            1,
            payload,
            hub=hub,
            node=node,
            service="partners",
            sequence=sequence,
        )
    )
    raw.update(extra)
    return json.dumps(raw).encode()


def incoming(hub: str, data: bytes, seq: int, node: str = "coventry") -> Incoming:
    return Incoming(event_subject(hub, node, "partners", "OrganisationRegistered", 1), data, seq)


async def test_redelivered_batch_changes_nothing(system: System) -> None:
    hub = system.settings.hub
    batch = [
        incoming(hub, org_event(hub, sequence=1), 1),
        incoming(hub, org_event(hub, sequence=2), 2),
    ]
    first = await system.reporting.ingest(batch)
    again = await system.reporting.ingest(batch)
    assert (first.applied, first.duplicates) == (2, 0)
    assert (again.applied, again.duplicates, again.dead) == (0, 2, [])
    assert (await system.report()).totals.organisations == 2


async def test_refusals_come_back_with_reasons_and_do_not_stop_the_batch(system: System) -> None:
    hub = system.settings.hub
    good = org_event(hub, sequence=1)
    reused_id = json.loads(good)
    reused_id["payload"] = {**ORG, "name": "Something else"}
    batch = [
        incoming(hub, b"{broken", 1),
        incoming(
            hub, org_event(hub, node="solihull"), 2
        ),  # envelope says solihull, subject says coventry
        incoming(hub, org_event("another-hub"), 3),
        incoming(hub, good, 4),
        incoming(hub, json.dumps(reused_id).encode(), 5),
    ]
    outcome = await system.reporting.ingest(batch)
    reasons = {msg.stream_seq: reason for msg, reason in outcome.dead}
    assert outcome.applied == 1
    assert "envelope invalid" in reasons[1]
    assert "subject node 'coventry' does not match envelope node 'solihull'" in reasons[2]
    assert "subject hub" in reasons[3]
    assert "reused with different content" in reasons[5]


async def test_malformed_message_is_dead_lettered_and_the_consumer_keeps_going(
    system: System,
) -> None:
    hub = system.settings.hub
    nc = await connect(system.nats_url, "test-forger")
    js = nc.jetstream()
    subject = event_subject(hub, "coventry", "partners", "OrganisationRegistered", 1)
    await js.publish(subject, b'{"this is": "not an event"}')
    response = await system.post("coventry", "partners", "/organisations", organisation())
    assert response.status_code == 201

    report = await system.report_when(lambda r: r.totals.organisations == 1)
    assert report.totals.organisations == 1
    letters = await wait_for(lambda: list_dead_letters(js, hub), lambda d: len(d) == 1)
    assert len(letters) == 1
    assert letters[0].original_subject == subject
    assert "envelope invalid" in letters[0].reason
    assert letters[0].data == b'{"this is": "not an event"}'
    await nc.close()


async def test_the_consumer_times_each_half_of_every_batch(
    system: System,
) -> None:
    hub, service = system.settings.hub, system.reporting
    before = dataclasses.replace(service.timings)
    await service.ingest(
        [incoming(hub, org_event(hub, sequence=1), 1), incoming(hub, org_event(hub, sequence=2), 2)]
    )
    await asyncio.sleep(0.05)
    await service.ingest([incoming(hub, org_event(hub, sequence=3), 3)])
    after = service.timings
    assert (after.batches - before.batches, after.events - before.events) == (2, 3)
    assert after.preparing > before.preparing and after.writing > before.writing
    assert after.consumer_cpu > before.consumer_cpu
    assert after.lanes_cpu == 0  # ingested here, not by the live consumer: no lanes


async def test_a_sequence_gap_shows_in_data_health(system: System) -> None:
    hub = system.settings.hub
    batch = [incoming(hub, org_event(hub, sequence=s), s) for s in (1, 2, 5)]
    await system.reporting.ingest(batch)
    async with system.reporting.read_sessions() as session:
        health = {(h.node, h.service): h for h in await data_health(session)}
    assert health[("coventry", "partners")].last_sequence == 5
    assert health[("coventry", "partners")].missing == 2


async def test_a_stopped_consumer_leaves_nothing_unacknowledged(system: System) -> None:
    for i in range(30):
        assert (
            await system.post("coventry", "partners", "/organisations", organisation(f"Org {i}"))
        ).status_code == 201
    await system.report_when(lambda r: r.stamp.applied_events >= 30)
    await system.reporting.stop()
    nc = await connect(system.nats_url, "test-acks")
    try:
        js = nc.jetstream()
        info = await wait_for(
            lambda: js.consumer_info(hub_stream(system.settings.hub), system.reporting.own.durable),
            lambda i: i.num_ack_pending == 0,
        )
        assert (info.num_ack_pending, info.num_pending, info.num_redelivered) == (0, 0, 0)
    finally:
        await nc.close()


async def test_a_batch_that_fails_is_delivered_again_and_applied_once(system: System) -> None:
    """A batch whose write raises (the database away) is nacked whole and delivered again; the
    durable acknowledges every batch by its last message, and a later batch's ack would take the
    failed one's messages with it had they not been nacked: all are applied, once, and nothing
    stays pending."""
    reporting, failures = system.reporting, []
    apply = reporting.apply

    async def fails_once(prepared: Any) -> Any:
        if not failures:
            failures.append(len(prepared.batch))
            raise OSError("database away")
        return await apply(prepared)

    reporting.apply = fails_once  # type: ignore[method-assign]
    for i in range(20):
        assert (
            await system.post("coventry", "partners", "/organisations", organisation(f"Org {i}"))
        ).status_code == 201
    report = await system.report_when(lambda r: r.stamp.applied_events >= 20)
    assert failures and report.totals.organisations == 20 and report.stamp.applied_events == 20
    nc = await connect(system.nats_url, "test-acks")
    try:
        js = nc.jetstream()
        info = await wait_for(
            lambda: js.consumer_info(hub_stream(system.settings.hub), reporting.own.durable),
            lambda i: i.num_ack_pending == 0,
        )
        assert (info.num_ack_pending, info.num_pending) == (0, 0)
        assert info.config.ack_policy == AckPolicy.ALL
    finally:
        await nc.close()
    await asyncio.sleep(0.5)  # a second delivery of anything would show in the totals
    assert (await system.report()).stamp.applied_events == 20


async def test_a_batch_is_freed_before_collections_resume(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Collections resume only once a batch's prepared events are freed: resumed while they were
    alive, the next allocation found the young generation far over its threshold and the collector
    scanned (and promoted) the whole batch for no garbage, a collection per large batch."""
    hub = system.settings.hub
    service = system.reporting
    held: list[weakref.ref[PreparedBatch]] = []
    freed_when_resumed: list[bool] = []
    apply = service.apply

    async def noting_the_batch(prepared: PreparedBatch) -> IngestOutcome:
        held.append(weakref.ref(prepared))
        return await apply(prepared)

    @contextlib.contextmanager
    def noting_the_resume() -> Iterator[None]:
        with collections_paused():
            yield
        if gc.isenabled():  # the outermost pause ended: collections resume here
            freed_when_resumed.append(held[-1]() is None)

    monkeypatch.setattr(service, "apply", noting_the_batch)
    monkeypatch.setattr(consumer, "collections_paused", noting_the_resume)
    batch = [incoming(hub, org_event(hub, sequence=i), i) for i in range(1, 4)]
    assert (await service.ingest(batch)).applied == 3
    assert freed_when_resumed == [True]


def test_collections_pause_while_a_batch_is_applied_and_resume_after() -> None:
    assert gc.isenabled()
    with collections_paused():
        with collections_paused():  # nested: an ingest inside a tool that paused already
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_bulk_run_sweeps_cyclic_garbage_every_few_batches_with_collections_paused() -> None:
    class Node:
        pass

    with collections_swept_every(3) as batch_done:
        assert not gc.isenabled()
        cycle = Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        gone = weakref.ref(cycle)
        del cycle
        batch_done(), batch_done()
        assert gone() is not None, "swept before its turn"
        batch_done()
        assert gone() is None, "the third batch's sweep collects the cycle"
    assert gc.isenabled()


def test_a_structure_kept_out_of_collections_is_frozen_and_recent_garbage_freed() -> None:
    class Node:
        pass

    with collections_paused():  # as while a figure is computed
        cycle = Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        gone = weakref.ref(cycle)
        del cycle
        frozen_before = gc.get_freeze_count()
        try:
            with kept_out_of_collections():
                assert gone() is None, "recent cyclic garbage is freed, not frozen"
                held = [(str(i), i) for i in range(1000)]
                assert gc.get_freeze_count() == frozen_before, "frozen only once built"
            assert gc.get_freeze_count() >= frozen_before + len(held)
        finally:
            gc.unfreeze()  # what other tests froze moves back: nothing lost, only scanned again
