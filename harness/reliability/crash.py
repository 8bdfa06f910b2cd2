"""The crash phase: the workload runs while a seeded injector SIGKILLs node services, reporting,
node NATS servers and the hub NATS server, and cuts leaf links; then the hub must converge on
exactly what the nodes' databases hold."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from harness.reliability.cluster import REPORTING, Cluster
from harness.reliability.truth import Reconciliation, converged, hub_figures, node_truth, reconcile
from harness.reliability.workload import Workload, WorkloadStats

FAULT_KINDS = ("node-service", "reporting", "node-nats", "hub-nats", "leaf-link")


@dataclass
class CrashResult:
    seed: int
    duration: float
    faults: Counter[str] = field(default_factory=Counter)
    workload: WorkloadStats = field(default_factory=WorkloadStats)
    reconciliation: Reconciliation | None = None
    converge_seconds: float | None = None
    fault_log: list[str] = field(default_factory=list)


class FaultInjector:
    """Every kind of fault at least once, at seeded random moments, one at a time."""

    def __init__(
        self, cluster: Cluster, rng: random.Random, result: CrashResult, short: bool = False
    ) -> None:
        self.cluster, self.rng, self.result, self.short = cluster, rng, result, short

    def schedule(self, duration: float) -> list[tuple[float, str]]:
        """Seeded moments; the short form hits NATS servers first, so their recovery (nats-server
        backs off re-creating sources) overlaps the rest of the run."""
        per_kind = max(1, int(duration // 20))
        kinds = [k for k in FAULT_KINDS for _ in range(per_kind)]
        self.rng.shuffle(kinds)
        if self.short:
            kinds.sort(key=lambda k: k not in ("node-nats", "hub-nats"))
        slot = duration / len(kinds)
        return [
            (i * slot + self.rng.uniform(0.1, 0.5) * slot, kind) for i, kind in enumerate(kinds)
        ]

    async def run(self, duration: float) -> None:
        start = time.monotonic()
        for at, kind in self.schedule(duration):
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            target = await self.inject(kind, self.rng.uniform(0.5, 2.0))
            self.result.faults[kind] += 1
            self.result.fault_log.append(f"{time.monotonic() - start:6.1f}s {kind} {target}")

    async def inject(self, kind: str, downtime: float) -> str:
        """Apply one fault, keep it for `downtime` seconds, then recover; returns what was hit."""
        c = self.cluster
        if kind in ("node-service", "reporting"):
            keys = [REPORTING] if kind == "reporting" else [k for k in c.services if k != REPORTING]
            proc = c.services[self.rng.choice(keys)]
            proc.kill()
            await asyncio.sleep(downtime)
            proc.start()
            return "/".join(proc.key)
        if kind == "leaf-link":
            node = self.rng.choice(c.nodes)
            await c.proxies[node].cut()
            await asyncio.sleep(downtime)
            await c.proxies[node].restore()
            return node
        node = self.rng.choice(c.nodes) if kind == "node-nats" else "hub"
        server = c.topology.node_servers[node] if kind == "node-nats" else c.topology.hub_server
        assert server is not None
        server.kill()
        await asyncio.sleep(downtime)
        await c.restart_nats(server)
        return node


async def run_crash(
    cluster: Cluster,
    seed: int,
    duration: float,
    converge_timeout: float = 120.0,
    short: bool = False,
) -> CrashResult:
    """Workload and faults for `duration` seconds, then wait for the hub to match the nodes."""
    result = CrashResult(seed, duration)
    rng = random.Random(seed)
    urls = {key: proc.url for key, proc in cluster.services.items() if key != REPORTING}
    tokens = {node: cluster.token(node) for node in cluster.nodes}
    workload = Workload(urls, tokens, seed=rng.randrange(2**32))
    stop = asyncio.Event()
    load = asyncio.create_task(workload.run(stop))
    try:
        await FaultInjector(cluster, rng, result, short).run(duration)
        stop.set()
        await load
    finally:
        stop.set()
        await workload.close()
    result.workload = workload.stats
    await cluster.wait_ready()
    result.reconciliation, result.converge_seconds = await converge(cluster, converge_timeout)
    return result


async def converge(cluster: Cluster, timeout: float) -> tuple[Reconciliation, float | None]:
    """Poll until reporting has applied every event the nodes hold (then settle and compare)."""
    start = time.monotonic()
    data_dir, reporting_db = cluster.folder, cluster.reporting_db
    while True:
        truth = await asyncio.to_thread(node_truth, data_dir, cluster.nodes)
        hub = await asyncio.to_thread(hub_figures, reporting_db, cluster.nodes)
        done = converged(truth, hub)
        elapsed = time.monotonic() - start
        if done or elapsed > timeout:
            break
        await asyncio.sleep(0.25)
    took = elapsed if done else None
    await asyncio.sleep(1.0)  # anything still in flight would now show as a duplicate
    truth = await asyncio.to_thread(node_truth, data_dir, cluster.nodes)
    hub = await asyncio.to_thread(hub_figures, reporting_db, cluster.nodes)
    return reconcile(truth, hub), took
