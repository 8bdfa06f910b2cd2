"""After a node's leaf nats-server or the hub's nats-server restarts, the hub resumes sourcing the
node streams within 10 s (issue 24; nats-server's own back-off took 41 to 53 s): real servers
rendered from deploy/nats, killed with SIGKILL, and the hub operator's watcher
(shared/sourcing.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client

from hub.topology import HubTopology, Ports, Secrets, provisioned_hub
from shared.bus import connect, ensure_node_stream
from shared.settings import HubSettings
from shared.subjects import hub_stream
from tests.helpers import wait_for

NODES = ["coventry", "solihull"]
RESUMED_WITHIN_SECONDS = 10.0
"""The issue's requirement: the one time bound these tests assert."""


@pytest.fixture
async def topology(tmp_path: Path, hub_id: str) -> AsyncIterator[HubTopology]:
    """A hub server and a leaf server per node, each node's stream made, the watcher running."""
    settings = HubSettings(
        hub=hub_id, data_dir=tmp_path, nodes=NODES, node_domains=True, duplicate_window_seconds=600
    )
    topology = HubTopology(settings, Secrets.load_or_create(tmp_path / "secrets", NODES), Ports())
    topology.start()
    try:
        for node in NODES:
            nc = await connect(topology.node_services_url(node), f"test-{node}")
            await ensure_node_stream(nc.jetstream(), hub_id, node, 600)
            await nc.close()
        async with provisioned_hub(topology):
            yield topology
    finally:
        topology.stop()


async def publish(topology: HubTopology, node: str, tag: str, count: int) -> None:
    """`count` messages on the node's own server, as its relay would (a message id each)."""
    nc = await connect(topology.node_services_url(node), f"test-publish-{node}")
    try:
        js = nc.jetstream()
        hub = topology.settings.hub
        for i in range(count):
            subject = f"hl.{hub}.{node}.partners.OrganisationRegistered.v1"
            await js.publish(subject, b"{}", headers={"Nats-Msg-Id": f"{node}-{tag}-{i}"})
    finally:
        await nc.close()


async def hub_messages(nc: Client, hub: str) -> int:
    try:
        return (await nc.jetstream(timeout=1).stream_info(hub_stream(hub))).state.messages
    except Exception:  # the hub restarting
        return -1


def restart(topology: HubTopology, which: str) -> None:
    """SIGKILL the server, as a crash would, and start it again on the same store."""
    if which == "hub":
        assert topology.hub_server is not None
        topology.hub_server.kill()
        topology.start_hub()
    else:
        topology.node_servers[which].kill()
        topology.start_node(which)


@pytest.mark.parametrize("which", ["coventry", "hub"], ids=["a leaf server", "the hub server"])
async def test_the_hub_resumes_sourcing_within_10s_after_a_nats_restart(
    topology: HubTopology, which: str
) -> None:
    hub = topology.settings.hub
    nc = await connect(topology.admin_url, "test-hub-admin")
    try:
        for node in NODES:
            await publish(topology, node, "before", 20)
        before = await wait_for(lambda: hub_messages(nc, hub), lambda n: n == 40, timeout=30)
        assert before == 40, "both nodes sourced before the restart"
        restart(topology, which)
        for node in NODES:
            await publish(topology, node, "after", 20)
        published = time.monotonic()
        after = await wait_for(lambda: hub_messages(nc, hub), lambda n: n >= 80, timeout=60)
        took = time.monotonic() - published
        print(f"\nafter restarting {which}: all in the hub stream {took:.1f} s after publishing")
        assert after == 80, "nothing lost, nothing doubled"
        assert took < RESUMED_WITHIN_SECONDS, f"{took:.1f} s"
    finally:
        await nc.close()
