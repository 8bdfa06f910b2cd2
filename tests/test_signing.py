"""Batch signatures: one Ed25519 signature per published batch, each message verifiable on its own.

The Merkle proofs are checked against the tree's definition (RFC 9162 2.1.1), every way of
tampering with a message or its proof is refused with its reason and changes no total, and a
stream recorded before batch signing (per-event signatures) still verifies and rebuilds to the
same chain.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path

import pytest

from services.reporting.app import build_service
from services.reporting.ingest.apply import Incoming
from services.reporting.ingest.rebuild import rebuild
from services.reporting.read.queries import hub_report
from services.reporting.settings import ReportingSettings
from shared.bus import connect
from shared.envelope import Envelope
from shared.nats_server import NatsServer
from shared.settings import HubSettings
from shared.signing import (
    BATCH_LEAF,
    BATCH_PROOF,
    BATCH_ROOT,
    BATCH_SIGNATURE,
    ROOT,
    Node,
    NodeKeys,
    NodeSigner,
    fold_proof,
    leaf_hash,
    merkle_tree,
    root_from_proof,
)
from shared.subjects import event_subject
from tests.test_contracts import envelope_for

LEGACY_STREAM = Path(__file__).parent / "samples" / "streams" / "legacy_signed_stream.json"


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 defines it, recursively. (A proof may fit more than one batch
    size, as inclusion proofs do: the size is bound by the signed statement, tested below.)"""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(
        b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])
    ).digest()


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33])
def test_every_message_of_a_batch_proves_its_place_under_the_root(size: int) -> None:
    leaves = [leaf_hash(f"message {i}".encode()) for i in range(size)]
    root, proofs = merkle_tree(leaves)
    assert root == reference_root(leaves)
    for i, proof in enumerate(proofs):
        assert root_from_proof(leaves[i], i, size, proof) == root
        if size > 1:
            assert root_from_proof(leaves[i], (i + 1) % size, size, proof) != root  # another place
            assert root_from_proof(leaves[i], i, size, proof[:-1]) != root  # truncated
            assert (
                root_from_proof(leaves[(i + 1) % size], i, size, proof) != root
            )  # another message
        assert root_from_proof(leaves[i], size, size, proof) is None  # out of range


def _event(hub: str, node: str, sequence: int, name: str) -> tuple[str, bytes]:
    raw = envelope_for(
        "OrganisationRegistered",
        1,
        {
            "organisation_id": f"00000000-0000-4000-8000-{sequence:012d}",
            "name": name,
            "roles": ["delivery_partner"],
            "areas": [node],
        },
        hub=hub,
        node=node,
        service="partners",
        sequence=sequence,
    )
    return event_subject(hub, node, "partners", "OrganisationRegistered", 1), raw


def _tampered(
    hub: str, coventry: NodeSigner, solihull: NodeSigner
) -> tuple[list[Incoming], dict[str, str]]:
    """Two genuine relay batches of coventry's, and the ways of tampering each must be
    refused for."""
    first = [_event(hub, "coventry", i, f"Genuine {i}") for i in range(1, 6)]
    second = [_event(hub, "coventry", i, f"Genuine {i}") for i in range(6, 9)]
    first_proofs = coventry.sign_batch(hub, "coventry", [raw for _, raw in first])
    second_proofs = coventry.sign_batch(hub, "coventry", [raw for _, raw in second])
    genuine = [
        Incoming(s, raw, n, p)
        for n, ((s, raw), p) in enumerate(
            zip(first + second, first_proofs + second_proofs, strict=True), start=1
        )
    ]
    subject, raw = _event(hub, "coventry", 9, "Forged")
    altered_byte = raw.replace(b"Forged", b"Forgee")
    proof = first_proofs[2]
    cases = {
        "an altered byte": (altered_byte, coventry.sign_batch(hub, "coventry", [raw])[0]),
        "an altered leaf header": (
            first[2][1].replace(b"Genuine 3", b"Genuine X"),
            {**proof, BATCH_LEAF: "3/5"},
        ),
        "an altered root header": (
            raw,
            {**coventry.sign_batch(hub, "coventry", [raw])[0], BATCH_ROOT: "00" * 32},
        ),
        "moved to another batch": (raw, second_proofs[0]),
        "another node's signature": (raw, solihull.sign_batch(hub, "coventry", [raw])[0]),
        "an altered batch size": (
            raw,
            {**coventry.sign_batch(hub, "coventry", [raw, b"x", b"y"])[0], BATCH_LEAF: "0/4"},
        ),
        "no signature": (raw, {}),
        "a truncated proof": (
            raw,
            {**coventry.sign_batch(hub, "coventry", [raw, raw + b" "])[0], BATCH_PROOF: ""},
        ),
        "a signature that is not base64": (
            raw,
            {**coventry.sign_batch(hub, "coventry", [raw])[0], BATCH_SIGNATURE: "!"},
        ),
    }
    refused = [
        Incoming(subject, data, 100 + n, headers)
        for n, (data, headers) in enumerate(cases.values())
    ]
    reasons = dict(
        zip(
            cases,
            [
                "not in the batch its proof names",
                "not in the batch its proof names",
                "not in the batch its proof names",
                "not in the batch its proof names",
                "batch signature does not verify",
                "batch signature does not verify",
                "unsigned event",
                "not in the batch its proof names",
                "batch signature does not verify",
            ],
            strict=True,
        )
    )
    return genuine + refused, reasons


async def test_each_way_of_tampering_is_dead_lettered_with_its_reason_and_changes_no_total(
    settings: HubSettings, nats_server: NatsServer, tmp_path: Path
) -> None:
    coventry, solihull = NodeSigner.generate(), NodeSigner.generate()
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(
        json.dumps({"coventry": coventry.public_key, "solihull": solihull.public_key})
    )
    batch, reasons = _tampered(settings.hub, coventry, solihull)
    service = build_service(settings, nats_server.url, ReportingSettings(node_keys_file=keys_file))
    await service.start(consume=False)
    try:
        outcome = await service.ingest(batch)
        assert outcome.applied == 8
        dead = [reason for _, reason in outcome.dead]
        assert len(dead) == len(reasons)
        for (case, expected), reason in zip(reasons.items(), dead, strict=True):
            assert expected in reason, (case, reason)
        async with service.read_sessions() as session:
            report = await hub_report(session, settings.hub, settings.nodes)
        assert report.totals.organisations == 8
    finally:
        await service.stop()


def test_a_verified_root_is_checked_once_and_its_messages_by_hashes_alone() -> None:
    signer = NodeSigner.generate()
    keys = NodeKeys({"coventry": signer.public_key})
    bodies = [_event("h", "coventry", i, f"n{i}")[1] for i in range(1, 65)]
    proofs = signer.sign_batch("h", "coventry", bodies)
    assert len({p[BATCH_SIGNATURE] for p in proofs}) == 1  # one signature for the batch
    assert (
        max(len(base64.b64decode(p[BATCH_PROOF])) for p in proofs) == 6 * 32
    )  # log2(64) hashes each
    envelopes = [Envelope.model_validate_json(b) for b in bodies]
    assert [keys.problem(e, b, p) for e, b, p in zip(envelopes, bodies, proofs, strict=True)] == [
        None
    ] * 64
    assert len(keys._verified) == 1
    # once a batch is verified, its other messages are checked against the nodes already known
    odd = [(e, b, p) for e, b, p in zip(envelopes, bodies, proofs, strict=True)]
    swapped = [
        (odd[0][0], odd[1][1], odd[0][2]),
        (odd[5][0], odd[5][1], {**odd[5][2], BATCH_LEAF: "4/64"}),
        (odd[7][0], odd[7][1] + b" ", odd[7][2]),
    ]
    assert all("not in the batch" in (keys.problem(*m) or "") for m in swapped)
    single = signer.sign_batch("h", "coventry", [bodies[0]])[0]
    assert keys.problem(envelopes[0], bodies[0], single) is None
    assert "not in the batch" in (
        keys.problem(envelopes[0], bodies[1], single) or ""
    )  # a batch of one, known


async def test_a_stream_signed_per_event_still_verifies_and_rebuilds_to_the_same_chain(
    tmp_path: Path,
) -> None:
    recorded = json.loads(LEGACY_STREAM.read_text())
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(recorded["node_keys"]))
    nodes = sorted(recorded["node_keys"])
    settings = HubSettings(hub=recorded["hub"], data_dir=tmp_path, nodes=nodes)
    server = NatsServer(tmp_path / "nats").start()  # its own server: the recorded hub id is fixed
    try:
        live = build_service(settings, server.url, ReportingSettings(node_keys_file=keys_file))
        await live.start()
        nc = await connect(server.url, "legacy-publisher")
        for m in recorded["messages"]:
            await nc.jetstream().publish(m["subject"], base64.b64decode(m["data"]))
        from tests.helpers import wait_for

        async def stamp():  # type: ignore[no-untyped-def]
            async with live.read_sessions() as session:
                return (await hub_report(session, settings.hub, settings.nodes)).stamp

        applied = await wait_for(stamp, lambda s: s.applied_events >= len(recorded["messages"]))
        assert applied.applied_events == len(recorded["messages"])
        await live.stop()

        rebuilt = build_service(
            settings,
            server.url,
            ReportingSettings(
                node_keys_file=keys_file,
                database_url=f"sqlite+aiosqlite:///{tmp_path / 'rebuilt.db'}",
            ),
        )
        await rebuilt.start(consume=False)
        result = await rebuild(rebuilt, nc, batch_size=7)
        async with rebuilt.read_sessions() as session:
            again = (await hub_report(session, settings.hub, settings.nodes)).stamp
        await rebuilt.stop()
        await nc.close()
        assert (result.applied, result.refused) == (len(recorded["messages"]), 0)
        assert (
            again.chain_head == applied.chain_head
            and again.applied_events == applied.applied_events
        )
    finally:
        server.stop()


async def test_a_write_made_offline_is_signed_by_the_node_relay_with_the_deployment_key(
    settings: HubSettings, nats_server: NatsServer
) -> None:
    """As `hub partners register` writes (no relay, no key loaded),
    then the node's service relays it."""
    from hub.topology import Secrets
    from services.partners import app as partners_app
    from services.partners.services import RegisterOrganisation, register_organisation
    from shared.bus import ensure_node_stream
    from shared.subjects import node_stream

    secrets = Secrets.load_or_create(settings.secrets_dir, settings.nodes)
    keys = NodeKeys(json.loads(secrets.node_keys_file.read_text()))
    offline = partners_app.build_service(settings, "coventry", nats_url="")
    await offline.start(relay=False)
    async with offline.unit_of_work() as uow:
        await register_organisation(
            RegisterOrganisation(
                name="Written offline", roles=["delivery_partner"], areas=["coventry"]
            ),
            uow,
        )
        await uow.commit()
    await offline.stop()

    running = partners_app.build_service(settings, "coventry", nats_server.url)
    await running.start()
    nc = await connect(nats_server.url, "signature-reader")
    try:
        from tests.helpers import wait_for

        stream = node_stream(settings.hub, "coventry")
        await ensure_node_stream(nc.jetstream(), settings.hub, "coventry", 600)
        info = await wait_for(
            lambda: nc.jetstream().stream_info(stream), lambda i: i.state.messages >= 1
        )
        assert info.state.messages == 1
        message = await nc.jetstream().get_msg(stream, info.state.first_seq)
        envelope = Envelope.model_validate_json(message.data)
        assert envelope.signature is None
        assert keys.problem(envelope, message.data, message.headers) is None
    finally:
        await nc.close()
        await running.stop()


async def test_a_node_configured_to_sign_with_an_unreadable_key_refuses_to_start(
    settings: HubSettings,
) -> None:
    from services.partners import app as partners_app
    from shared.signing import MissingNodeKey

    missing = settings.model_copy(update={"node_key_file": settings.data_dir / "nowhere.key"})
    service = partners_app.build_service(missing, "coventry", "nats://127.0.0.1:1")
    with pytest.raises(MissingNodeKey, match="nowhere.key.*hub secrets init"):
        await service.start()
    await service.stop()


def _fold_proof_before(
    leaf: bytes, index: int, size: int, proof: list[bytes], known: dict[Node, bytes] | None
) -> tuple[bytes | None, dict[Node, bytes]]:
    """`fold_proof` as it was, over a list of sibling hashes (the reference for the test below)."""
    if not 0 <= index < size:
        return None, {}
    fn, sn, level, r = index, size - 1, 0, leaf
    passed: dict[Node, bytes] = {}
    for sibling in proof:
        if sn == 0:
            return None, passed
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + sibling + r).digest()
            while not fn & 1 and fn != 0:
                fn, sn, level = fn >> 1, sn >> 1, level + 1
        else:
            r = hashlib.sha256(b"\x01" + r + sibling).digest()
        fn, sn, level = fn >> 1, sn >> 1, level + 1
        if known is not None and (seen := known.get((level, fn))) is not None:
            return (known[ROOT] if seen == r else None), passed
        passed[(level, fn)] = r
    return (r if sn == 0 else None), passed


def _forged_place(
    rng: random.Random, proof: list[bytes], index: int, size: int
) -> tuple[list[bytes], int, int]:
    """The proof and place as given, or with one thing changed as a forger might."""
    kind = rng.randrange(6)
    if kind == 1 and proof:
        at = rng.randrange(len(proof))
        flipped = bytes([proof[at][0] ^ 1]) + proof[at][1:]
        return [*proof[:at], flipped, *proof[at + 1 :]], index, size
    if kind == 2 and proof:
        return proof[:-1], index, size
    if kind == 3:
        return [*proof, bytes(32)], index, size
    if kind == 4:
        return proof, rng.randrange(-1, size + 1), size
    if kind == 5:
        return proof, index, rng.randrange(1, size + 3)
    return proof, index, size


def test_folding_a_concatenated_proof_gives_what_the_list_of_hashes_gave() -> None:
    """Generated batches, their messages' proofs as published or tampered with, folded with and
    without the nodes earlier messages of the batch made known: the same root and nodes passed."""
    rng = random.Random(26)
    for _ in range(300):
        size = rng.randint(1, 70)
        leaves = [leaf_hash(rng.randbytes(40)) for _ in range(size)]
        root, proofs = merkle_tree(leaves)
        known: dict[Node, bytes] | None = None
        for i in rng.sample(range(size), size):
            proof, index, claimed = _forged_place(rng, proofs[i], i, size)
            before = _fold_proof_before(leaves[i], index, claimed, proof, known)
            assert fold_proof(leaves[i], index, claimed, b"".join(proof), known) == before
            if before[0] == root and claimed == size:
                known = {**(known or {}), **before[1], ROOT: root}
