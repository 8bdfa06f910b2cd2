"""The soak phase: sustained load with no faults; throughput, memory (RSS) at start and end, and
the backlog left once the load stops (none may grow without bound)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from harness.reliability.cluster import REPORTING, Cluster
from harness.reliability.crash import converge
from harness.reliability.truth import Reconciliation, hub_figures, node_truth
from harness.reliability.workload import Workload


@dataclass(frozen=True)
class SoakResult:
    seconds: float
    events: int
    rss_start_kib: int
    rss_end_kib: int
    backlog_at_stop: int
    reconciliation: Reconciliation
    drain_seconds: float | None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def run_soak(cluster: Cluster, seed: int, seconds: float) -> SoakResult:
    """Load every node for `seconds`; memory summed over every service process."""
    urls = {key: proc.url for key, proc in cluster.services.items() if key != REPORTING}
    workload = Workload(urls, {n: cluster.token(n) for n in cluster.nodes}, seed=seed, tag="s")
    before = (await asyncio.to_thread(node_truth, cluster.folder, cluster.nodes)).event_count
    rss_start = sum(cluster.rss_kib().values())
    stop = asyncio.Event()
    started = time.monotonic()
    load = asyncio.create_task(workload.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await load
    elapsed = time.monotonic() - started
    await workload.close()
    rss_end = sum(cluster.rss_kib().values())
    truth = await asyncio.to_thread(node_truth, cluster.folder, cluster.nodes)

    hub = await asyncio.to_thread(hub_figures, cluster.reporting_db, cluster.nodes)
    backlog = truth.event_count - len(set().union(*hub.events.values()))
    reconciliation, drained = await converge(cluster, 60.0)
    return SoakResult(
        elapsed, truth.event_count - before, rss_start, rss_end, backlog, reconciliation, drained
    )
