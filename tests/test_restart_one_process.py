"""Restarting one process of a running deployment (deploy/RUNBOOK.md, "Restart one process"):
reporting runs apart from the hub's NATS (`hub hub up --no-reporting` beside `hub hub reporting`),
is SIGKILLed mid-ingest and comes back in order at once, and is restarted, like one node, while the
nodes keep publishing; afterwards the totals are right and nothing is counted twice."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.bench_events import event_mix
from hub.locate import Located
from hub.nodes import deployment as lay_out
from hub.topology import Ports
from services.reporting.ingest.position import ACK_WAIT_SECONDS
from shared.bus import connect, ensure_node_stream
from shared.settings import HubSettings
from shared.signing import NodeSigner, node_key_path
from shared.subjects import hub_stream
from tests.helpers import organisation, wait_for
from tests.processes import ProcessDeployment

NODES = ["coventry", "solihull"]
BACKLOG = 30_000
"""Events waiting when reporting starts: several seconds of ingest, so the kill lands mid-way."""

pytestmark = pytest.mark.slow


@pytest.fixture
def deployment(tmp_path: Path, hub_id: str) -> Iterator[ProcessDeployment]:
    d = ProcessDeployment(tmp_path, hub_id, NODES)
    try:
        yield d
    finally:
        d.stop_all()


async def publish_backlog(d: ProcessDeployment, count: int) -> None:
    """`count` events on the node streams, signed with the deployment's node keys as each node's
    relay signs them, on the nodes' own leaf servers; returns once the hub stream holds them all."""
    located = Located.find(d.data_dir)
    assert located is not None, "`hub hub up` lays the deployment out"
    signers = {n: NodeSigner.from_file(node_key_path(d.data_dir / "secrets", n)) for n in NODES}
    connections = {n: await connect(located.node_url(n, "services"), f"test-{n}") for n in NODES}
    try:
        for node, nc in connections.items():
            await ensure_node_stream(nc.jetstream(), d.hub, node, 600)
        pending = []
        for event in event_mix(d.hub, NODES, count, seed=24, signers=signers):
            js = connections[event.subject.split(".")[2]].jetstream()
            headers = {"Nats-Msg-Id": event.event_id, **event.headers}
            pending.append(await js.publish_async(event.subject, event.body, headers=headers))
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        for nc in connections.values():
            await nc.close()
    await wait_hub_stream(located, d.hub, count)


async def wait_hub_stream(located: Located, hub: str, count: int) -> None:
    nc = await connect(located.hub_url(), "test-hub-admin")
    try:
        deadline = time.monotonic() + 120
        while (await nc.jetstream().stream_info(hub_stream(hub))).state.messages < count:
            assert time.monotonic() < deadline, "the hub stream never held the backlog"
            await asyncio.sleep(0.2)
    finally:
        await nc.close()


async def in_flight(d: ProcessDeployment) -> int:
    """Messages the reporting durable has handed out and not had acknowledged."""
    return (await durable(d))[0]


async def durable(d: ProcessDeployment) -> tuple[int, int, int]:
    """The reporting durable's unacknowledged messages, the last stream seq it handed out and its
    acknowledgement floor."""
    located = Located.find(d.data_dir)
    assert located is not None
    nc = await connect(located.hub_url(), "test-hub-admin")
    try:
        info = await nc.jetstream().consumer_info(hub_stream(d.hub), "reporting")
        floor = info.ack_floor.stream_seq or 0
        return info.num_ack_pending or 0, info.delivered.stream_seq or 0, floor
    finally:
        await nc.close()


async def settled(d: ProcessDeployment) -> int:
    """Messages still unacknowledged once the last batch has had time to be acknowledged."""
    return await wait_for(lambda: in_flight(d), lambda n: n == 0, timeout=30)


def leaf_servers(d: ProcessDeployment) -> None:
    """The nodes' leaf nats-servers as `hub node up` renders and starts them, without services:
    this test's events are published straight to the node streams."""
    settings = HubSettings(hub=d.hub, nodes=NODES, data_dir=d.data_dir)
    nodes = {node: d.ports.for_node(node)[0] for node in NODES}
    topology = lay_out(
        settings, Ports(hub=d.ports.hub_nats, hub_leaf=d.ports.hub_leaf, nodes=nodes)
    )
    for node in NODES:
        topology.start_node(node)
    d.cleanup.append(topology.stop)


def wait_position(d: ProcessDeployment, done: int, timeout: float = 300) -> list[tuple[int, int]]:
    """Poll reporting's stamp until `done` events are applied; every stamp seen on the way."""
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(d.position())
        if seen[-1][1] >= done:
            break
        time.sleep(0.05)
    return seen


def test_reporting_killed_mid_ingest_takes_its_in_flight_batch_back_at_once_and_in_order(
    deployment: ProcessDeployment,
) -> None:
    d = deployment
    d.start_hub_nats()
    leaf_servers(d)
    asyncio.run(publish_backlog(d, BACKLOG))
    d.start_reporting()
    seen = wait_position(d, BACKLOG // 4)
    d.kill("reporting")  # SIGKILL mid-ingest
    killed_at = d.position()
    pending, handed_out, killed_floor = asyncio.run(durable(d))
    assert 0 < killed_at[1] < BACKLOG and pending > 0, (killed_at, pending)
    restarted = time.monotonic()
    d.start_reporting()
    seen = wait_position(d, handed_out)
    taken_back = time.monotonic() - restarted
    seen += wait_position(d, BACKLOG)
    took = time.monotonic() - restarted
    print(
        f"\nSIGKILL at {killed_at[1]:,} of {BACKLOG:,} applied, {pending:,} in flight; "
        f"the restarted reporting had applied them {taken_back:.1f} s after it was started "
        f"(ack wait {ACK_WAIT_SECONDS} s), and all {BACKLOG:,} after {took:.1f} s"
    )
    assert seen[-1] == (BACKLOG, BACKLOG), "every event applied once, the stamp at the stream's end"
    holes = [(seq, applied) for seq, applied in seen if seq != applied]
    assert not holes, (
        f"a stamp named a stream position with events below it not applied: {holes[:3]}"
    )
    assert asyncio.run(settled(d)) == 0, "every message acknowledged"
    taken = f"durable's floor {killed_floor}, {pending} in flight"
    assert taken in d.log_text("reporting"), (
        "at start, not after the ack wait (slow on a busy machine)"
    )


class Writer(threading.Thread):
    """Registers organisations at every node, round after round, until stopped; counts those each
    node's partners service accepted (201). A node restarting refuses connections: tried again."""

    def __init__(self, d: ProcessDeployment) -> None:
        super().__init__(daemon=True)
        self.d = d
        self.accepted = dict.fromkeys(NODES, 0)
        self.stopping = threading.Event()
        self.failure: str | None = None

    def run(self) -> None:
        tokens = {n: self.d.token(f"{n}-staff") for n in NODES}
        with httpx.Client(timeout=30) as client:
            for i in itertools.count():
                if self.stopping.is_set():
                    return
                for node in NODES:
                    self._register(client, node, tokens[node], i)
                time.sleep(0.05)

    def _register(self, client: httpx.Client, node: str, token: str, i: int) -> None:
        try:
            response = client.post(
                f"{self.d.partners_url(node)}/organisations",
                json=organisation(f"{node} partner {i}", areas=[node]),
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.ConnectError:  # restarting: nothing was written
            return
        if response.status_code == 201:
            self.accepted[node] += 1
        elif response.status_code != 503:  # 503: not ready yet
            self.failure = f"{node}: {response.status_code} {response.text[:200]}"

    def wait_for_more(self, more: int, nodes: list[str] = NODES, timeout: float = 120) -> None:
        start = dict(self.accepted)
        deadline = time.monotonic() + timeout
        while any(self.accepted[n] - start[n] < more for n in nodes):
            assert time.monotonic() < deadline, (start, self.accepted, self.failure)
            time.sleep(0.1)


def organisations_reported(d: ProcessDeployment) -> dict[str, int]:
    report = httpx.get(
        f"{d.reporting_url}/report",
        headers={"Authorization": f"Bearer {d.token('manager')}"},
        timeout=30,
    ).json()
    return {row["node"]: row["organisations"] for row in report["nodes"]}


def test_restart_reporting_alone_then_one_node_alone_while_the_nodes_keep_publishing(
    deployment: ProcessDeployment,
) -> None:
    d = deployment
    d.start_hub_nats()
    for node in NODES:
        d.start_node(node)
    d.start_reporting()
    writer = Writer(d)
    writer.start()
    try:
        writer.wait_for_more(10)
        d.stop("reporting")  # systemctl restart hub-ledger-reporting
        writer.wait_for_more(10)  # the nodes publish on while reporting is down
        d.start_reporting()
        writer.wait_for_more(10)
        d.stop("coventry")  # systemctl restart hub-ledger-node@coventry
        writer.wait_for_more(10, ["solihull"])  # the other node publishes on
        d.start_node("coventry")
        writer.wait_for_more(10)
    finally:
        writer.stopping.set()
        writer.join()
    assert writer.failure is None, writer.failure
    total = sum(writer.accepted.values())
    deadline, reported = time.monotonic() + 120, {}
    while time.monotonic() < deadline:
        reported = organisations_reported(d)
        if reported == writer.accepted and d.position()[1] == total:
            break
        time.sleep(0.5)
    print(f"\naccepted and reported once each, across both restarts: {writer.accepted}")
    assert reported == writer.accepted, "every accepted organisation reported once"
    assert d.position()[1] == total, "one event applied per organisation registered"
