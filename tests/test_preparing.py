"""Preparing a batch in worker processes gives what preparing it here gives: the same events and
writes (statements other than inserts and updates worked out again here), the same dead letters
with the same reasons and the same duplicates, signatures checked there with the hub's keys."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from services.reporting.app import build_service
from services.reporting.ingest import preparing
from services.reporting.ingest.apply import Incoming, PreparedBatch, prepare_batch
from services.reporting.ingest.preparing import ParallelPreparer, default_workers
from services.reporting.projections.writes import Insert, Update, portable
from services.reporting.settings import ReportingSettings
from shared.contracts import contract
from shared.envelope import Envelope
from shared.nats_server import NatsServer
from shared.settings import HubSettings
from shared.signing import NodeKeys, NodeSigner
from shared.subjects import event_subject
from tests.test_contracts import SAMPLES, envelope_for


def every_kind_of_message(hub: str, signer: NodeSigner) -> list[Incoming]:
    """An event of every kept sample, signed as one relay batch, then garbage, a redelivery, an id
    reused with other content and a forgery."""
    unsigned = []
    for i, sample in enumerate(sorted(SAMPLES.glob("*.json")), start=1):
        event_type, number = sample.stem.rsplit(".v", 1)
        version = int(number)
        service = contract(event_type, version).service
        raw = envelope_for(
            event_type,
            version,
            json.loads(sample.read_text()),
            hub=hub,
            service=service,
            sequence=i,
        )
        unsigned.append((event_subject(hub, "coventry", service, event_type, version), raw))
    proofs = signer.sign_batch(hub, "coventry", [raw for _, raw in unsigned])
    events = [
        Incoming(subject, raw, i, proof)
        for i, ((subject, raw), proof) in enumerate(zip(unsigned, proofs, strict=True), start=1)
    ]
    first = Envelope.model_validate_json(events[0].data)
    reused = first.model_copy(update={"sequence": 999}).to_bytes()
    reused_proof = signer.sign_batch(hub, "coventry", [reused])[0]
    forged_proof = NodeSigner.generate().sign_batch(hub, "coventry", [events[1].data])[0]
    n = len(events)
    return [
        *events,
        Incoming(events[0].subject, b"not json", n + 1),
        Incoming(events[0].subject, events[0].data, n + 2, events[0].headers),
        Incoming(events[0].subject, reused, n + 3, reused_proof),
        Incoming(events[1].subject, events[1].data, n + 4, forged_proof),
    ]


def comparable(prepared: PreparedBatch) -> dict[str, Any]:
    def write(w: Any) -> Any:
        return w if isinstance(w, (Insert, Update)) else (str(w), w.compile().params)

    return {
        "events": {
            key: (c.incoming, c.event._replace(writes=[write(w) for w in c.event.writes or ()]))
            for key, c in prepared.candidates.items()
        },
        "dead": prepared.outcome.dead,
        "duplicates": prepared.outcome.duplicates,
    }


async def test_workers_prepare_exactly_what_this_process_prepares(hub_id: str) -> None:
    signer = NodeSigner.generate()
    keys = NodeKeys({"coventry": signer.public_key})
    batch = every_kind_of_message(hub_id, signer)
    here = prepare_batch(batch, hub_id, keys)
    with ParallelPreparer(hub_id, keys, workers=2) as preparer:
        there = await preparer.prepare(batch)
    assert comparable(there) == comparable(here)

    samples = len(batch) - 4
    assert len(here.candidates) == samples and here.outcome.duplicates == 1
    reasons = [reason for _, reason in here.outcome.dead]
    assert len(reasons) == 3 and reasons[0].startswith("envelope invalid")
    assert "reused with different content" in reasons[1] and "does not verify" in reasons[2]
    statements = [c for c in there.candidates.values() if not portable(c.event.writes or [])]
    assert statements and all(c.event.writes for c in statements), (
        "statements are worked out again here"
    )


async def test_a_share_prepared_here_beside_a_worker_gives_the_same_batch(
    hub_id: str, monkeypatch: Any
) -> None:
    """The live consumer's way with signatures: half of each batch here while a worker prepares
    the other."""
    monkeypatch.setattr(preparing, "FEWEST_TO_SHARE", 1)
    signer = NodeSigner.generate()
    keys = NodeKeys({"coventry": signer.public_key})
    batch = every_kind_of_message(hub_id, signer)
    with ParallelPreparer(hub_id, keys, workers=1, here_share=0.5) as preparer:
        assert comparable(await preparer.prepare(batch)) == comparable(
            prepare_batch(batch, hub_id, keys)
        )


async def test_a_worker_that_dies_is_replaced_and_its_batch_prepared_here(
    hub_id: str, monkeypatch: Any
) -> None:
    monkeypatch.setattr(preparing, "FEWEST_TO_SHARE", 1)
    signer = NodeSigner.generate()
    keys = NodeKeys({"coventry": signer.public_key})
    batch = every_kind_of_message(hub_id, signer)
    here = comparable(prepare_batch(batch, hub_id, keys))
    with ParallelPreparer(hub_id, keys, workers=1, here_share=0.5) as preparer:
        assert comparable(await preparer.prepare(batch)) == here
        (worker,) = preparer._pool._processes.values()  # type: ignore[union-attr]
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(10)
        assert (
            comparable(await preparer.prepare(batch)) == here
        )  # prepared here, the pool started afresh
        assert comparable(await preparer.prepare(batch)) == here  # in the new worker again
        (replacement,) = preparer._pool._processes.values()  # type: ignore[union-attr]
        assert replacement.pid != worker.pid


async def test_the_consumer_uses_a_worker_only_when_it_checks_signatures_on_large_batches(
    settings: HubSettings, nats_server: NatsServer, tmp_path: Path
) -> None:
    """Where lanes are off (with them, they prepare every large batch)."""
    signer = NodeSigner.generate()
    keys_file = tmp_path / "node-keys.json"
    keys_file.write_text(json.dumps({"coventry": signer.public_key}))
    small = every_kind_of_message(settings.hub, signer)
    large = small * (-(-preparing.FEWEST_TO_SHARE // len(small)))
    expected = default_workers() > 0  # a single core has none to spare
    for i, (own, with_worker) in enumerate(
        (
            (
                ReportingSettings(
                    node_keys_file=keys_file, prepare_in_worker=True, ingest_lanes=False
                ),
                expected,
            ),
            (ReportingSettings(node_keys_file=keys_file, ingest_lanes=False), False),  # default
            (ReportingSettings(ingest_lanes=False), False),
        )
    ):
        # a database of its own each time: one that has ingested is ahead of this test's
        # empty stream
        own = own.model_copy(
            update={"database_url": f"sqlite+aiosqlite:///{tmp_path / f'reporting-{i}.db'}"}
        )
        service = build_service(settings, nats_server.url, own)
        await service.start(consume=False)
        await service.start()
        try:
            await service.ingest(small)
            assert service.preparer is None  # a quiet stream's batch: prepared here
            outcome = await service.ingest(large)
            assert (service.preparer is not None) == with_worker
            assert outcome.applied == 0 and outcome.duplicates == len(large) - len(
                outcome.dead
            )  # all seen before
        finally:
            await service.stop()
        assert service.preparer is None
