"""Each node on its own NATS leaf server (configs rendered from deploy/nats): link cuts lose and
double nothing; NATS permissions, event signatures and API tokens keep nodes in their lanes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
import nats.errors
import pytest

from harness.reliability.proxy import CuttableProxy
from hub.demo import leaf_wiring, provisioned_hub
from hub.topology import HubTopology, Ports, Secrets
from shared.bus import connect
from shared.dead_letters import list_dead_letters
from shared.envelope import Envelope
from shared.settings import HubSettings
from shared.signing import NodeSigner
from shared.subjects import event_subject
from tests.helpers import System, organisation, wait_for

NODES = ["coventry", "warwickshire", "solihull"]


class LeafHub:
    def __init__(self, topology: HubTopology, system: System, proxy: CuttableProxy) -> None:
        self.topology, self.system, self.proxy = topology, system, proxy


@pytest.fixture
async def leaf_hub(tmp_path: Path, hub_id: str) -> AsyncIterator[LeafHub]:
    secrets = Secrets.load_or_create(tmp_path / "secrets", NODES)
    settings = HubSettings(
        hub=hub_id,
        data_dir=tmp_path,
        nodes=NODES,
        node_domains=True,
        auth_tokens_file=secrets.tokens_file,
        duplicate_window_seconds=600,
    )
    topology = HubTopology(settings, secrets, Ports())
    topology.start_hub()
    proxy = await CuttableProxy(topology.ports.hub_leaf).start()
    topology.start_node(
        "coventry", hub_leaf_port=proxy.port
    )  # coventry's link runs through the proxy
    topology.start_node("warwickshire")
    topology.start_node("solihull")
    tokens = {node: secrets.token(f"{node}-staff") for node in NODES}
    system = System(settings, topology.reporting_url, wiring=leaf_wiring(topology), tokens=tokens)
    try:
        async with provisioned_hub(topology):
            await system.start()
            try:
                yield LeafHub(topology, system, proxy)
            finally:
                await system.stop()
    finally:
        await proxy.cut()
        topology.stop()


async def register(system: System, node: str, count: int, prefix: str) -> None:
    for i in range(count):
        response = await system.post(
            node, "partners", "/organisations", organisation(f"{prefix} {i}", areas=[node])
        )
        assert response.status_code == 201, response.text


async def test_a_cut_link_delays_a_node_but_loses_and_doubles_nothing(leaf_hub: LeafHub) -> None:
    system = leaf_hub.system
    for node in NODES:
        await register(system, node, 4, f"{node} before")
    report = await system.report_when(lambda r: r.totals.organisations == 12)
    assert report.totals.organisations == 12

    await leaf_hub.proxy.cut()
    await register(
        system, "coventry", 6, "during the cut"
    )  # the node keeps working on its own server
    await register(system, "solihull", 2, "elsewhere")
    relay = system.services[("coventry", "partners")].relay
    assert relay is not None
    assert await wait_for(relay.backlog, lambda b: b == 0) == 0  # stored on coventry's own server
    during = await system.report_when(lambda r: r.totals.organisations >= 14)
    by_node = {n.node: n.organisations for n in during.nodes}
    assert by_node["coventry"] == 4 and by_node["solihull"] == 6

    await leaf_hub.proxy.restore()
    after = await system.report_when(lambda r: r.totals.organisations >= 20, timeout=60)
    assert {n.node: n.organisations for n in after.nodes} == {
        "coventry": 10,
        "warwickshire": 4,
        "solihull": 6,
    }
    await asyncio.sleep(0.5)
    assert (await system.report()).stamp.applied_events == 20


async def test_a_node_cannot_publish_on_another_nodes_subjects(leaf_hub: LeafHub) -> None:
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    hub_id = leaf_hub.system.settings.hub
    nc = await nats.connect(leaf_hub.topology.node_services_url("coventry"), error_cb=on_error)
    js = nc.jetstream()
    with pytest.raises(nats.errors.TimeoutError):
        await js.publish(
            event_subject(hub_id, "solihull", "partners", "OrganisationRegistered", 1),
            b"{}",
            timeout=1,
        )
    await nc.close()
    assert any("permissions violation" in str(e).lower() for e in errors)


async def test_forged_and_unsigned_events_are_dead_lettered_with_the_reason(
    leaf_hub: LeafHub,
) -> None:
    system, topology = leaf_hub.system, leaf_hub.topology
    await register(system, "coventry", 1, "genuine")
    await system.report_when(lambda r: r.totals.organisations == 1)
    hub_id = system.settings.hub
    nc = await connect(topology.node_admin_url("coventry"), "forger")
    js = nc.jetstream()
    genuine = await js.get_msg(f"HL_{hub_id.upper()}_COVENTRY", 1)
    envelope = Envelope.model_validate_json(genuine.data)
    subject = event_subject(hub_id, "coventry", "partners", "OrganisationRegistered", 1)

    assert (
        envelope.signature is None and genuine.headers and "Hub-Batch-Signature" in genuine.headers
    )
    proof = {k: v for k, v in genuine.headers.items() if k.startswith("Hub-Batch-")}
    tampered = envelope.model_copy(
        update={
            "event_id": envelope.event_id.__class__(int=envelope.event_id.int + 1),
            "payload": {**envelope.payload, "name": "Forged"},
        }
    )
    wrong_key = tampered.model_copy(update={"sequence": 2}).to_bytes()
    unsigned = tampered.model_copy(update={"sequence": 3})
    await js.publish(
        subject, tampered.to_bytes(), headers=proof
    )  # the genuine proof over different content
    await js.publish(
        subject,
        wrong_key,
        headers=NodeSigner.generate().sign_batch(hub_id, "coventry", [wrong_key])[0],
    )
    await js.publish(subject, unsigned.to_bytes())
    await nc.close()

    hub_nc = await connect(topology.admin_url, "dlq-reader")
    letters = await wait_for(
        lambda: list_dead_letters(hub_nc.jetstream(), hub_id), lambda d: len(d) >= 3
    )
    await hub_nc.close()
    reasons = [d.reason for d in letters]
    assert any("not in the batch its proof names" in r for r in reasons), reasons
    assert any("batch signature does not verify" in r for r in reasons), reasons
    assert any("unsigned event" in r for r in reasons), reasons
    assert (await system.report()).totals.organisations == 1


async def test_http_requires_a_token_with_the_right_role(leaf_hub: LeafHub) -> None:
    system, secrets = leaf_hub.system, leaf_hub.topology.secrets
    app = system._apps[("coventry", "partners")]

    async def call(method: str, token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://x", headers=headers
        ) as c:
            response = await c.request(
                method, "/organisations", json=organisation() if method == "POST" else None
            )
            return response.status_code

    assert await call("GET", None) == 401
    assert await call("GET", "not-a-token") == 401
    assert await call("POST", secrets.token("solihull-staff")) == 403
    assert await call("POST", secrets.token("auditor")) == 403
    assert await call("GET", secrets.token("auditor")) == 200
    assert await call("GET", secrets.token("manager")) == 200
    assert await call("POST", secrets.token("coventry-staff")) == 201
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        assert (await c.get("/health/live")).status_code == 200


def test_secrets_are_owner_only_and_reused(tmp_path: Path) -> None:
    first = Secrets.load_or_create(tmp_path, ["coventry"])
    again = Secrets.load_or_create(tmp_path, ["coventry", "solihull"])
    assert again.token("manager") == first.token("manager")
    assert again.nats["leaf"]["coventry"] == first.nats["leaf"]["coventry"]
    assert "solihull" in json.loads(again.node_keys_file.read_text())
    for path in tmp_path.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path


async def test_a_node_cannot_read_another_nodes_stream_and_reporting_publishes_only_dead_letters(
    leaf_hub: LeafHub,
) -> None:
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    hub_id = leaf_hub.system.settings.hub
    coventry = await nats.connect(
        leaf_hub.topology.node_services_url("coventry"), error_cb=on_error
    )
    # a denied request goes unanswered (the violation goes to error_cb, counted below)
    with pytest.raises(nats.errors.TimeoutError):  # no permission to ask about solihull's stream
        await coventry.jetstream(timeout=1).stream_info(f"HL_{hub_id.upper()}_SOLIHULL")
    with pytest.raises(nats.errors.TimeoutError):  # nor to subscribe to solihull's subjects
        sub = await coventry.subscribe(f"hl.{hub_id}.solihull.>")
        await coventry.flush(timeout=1)
        await sub.next_msg(timeout=1)
    await coventry.close()

    reporting = await nats.connect(leaf_hub.topology.reporting_url, error_cb=on_error)
    with pytest.raises(nats.errors.TimeoutError):
        await reporting.jetstream().publish(
            event_subject(hub_id, "coventry", "partners", "OrganisationRegistered", 1),
            b"{}",
            timeout=1,
        )
    ack = await reporting.jetstream().publish(
        f"hldlq.{hub_id}.reporting", b"a dead letter", timeout=2
    )
    assert ack.stream == f"HL_{hub_id.upper()}_DLQ"
    await reporting.close()
    assert sum("permissions violation" in str(e).lower() for e in errors) >= 2
