"""One benchmark measurement in its own process, so its time and peak memory are its own.

python -m harness.bench_worker TASK '{"json": "arguments"}'   → prints one JSON line of figures
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.bus import connect
from shared.settings import HubSettings
from shared.subjects import hub_stream

if TYPE_CHECKING:
    from services.reporting.ingest.consumer import ReportingService

STALLED_SECONDS = 60.0
"""No event applied for this long: the measurement cannot finish (events refused), so it fails."""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def workers_peak_rss_mb() -> float:
    """The largest of this process's finished children (the rebuild's preparing workers)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


async def raw_consume(
    url: str, hub: str, count: int, quick_next_msg: bool = False
) -> dict[str, Any]:
    """The ceiling: a plain nats-py pull consumer fetching and acknowledging the hub stream; with
    `quick_next_msg`, given the fix the reporting consumer runs with (shared/compat.py)."""
    if quick_next_msg:
        from shared.compat import quick_next_msg as fix

        fix()
    nc = await connect(url, "bench-raw")
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        f"hl.{hub}.>",
        durable=f"raw{int(time.time() * 1000)}",
        stream=hub_stream(hub),
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=20000
        ),
    )
    started, got = time.perf_counter(), 0
    while got < count:
        for msg in await sub.fetch(500, timeout=5):
            await msg.ack()
            got += 1
    seconds = time.perf_counter() - started
    await nc.close()
    return {"events": got, "seconds": seconds}


def _reporting(
    url: str,
    hub: str,
    data_dir: str,
    database_url: str | None,
    node_keys: dict[str, str] | None = None,
    durable: str = "reporting",
) -> ReportingService:
    """The reporting service as deployed: its default settings, on this run's database; with
    `node_keys`, a node keys file as deployments have, so every event's signature is checked."""
    from services.reporting.app import build_service
    from services.reporting.settings import ReportingSettings

    settings = HubSettings(
        hub=hub, data_dir=Path(data_dir), nodes=["coventry", "warwickshire", "solihull"]
    )
    keys_file = None
    if node_keys is not None:
        keys_file = Path(data_dir) / "node-keys.json"
        keys_file.parent.mkdir(parents=True, exist_ok=True)
        keys_file.write_text(json.dumps(node_keys))
    return build_service(
        settings,
        url,
        ReportingSettings(database_url=database_url, node_keys_file=keys_file, durable=durable),
    )


async def ingest(
    url: str,
    hub: str,
    data_dir: str,
    count: int,
    database_url: str | None = None,
    node_keys: dict[str, str] | None = None,
    durable: str = "reporting",
) -> dict[str, Any]:
    """The reporting service's live consumer applying `count` events into empty projections."""
    from services.reporting.read.queries import report_stamp

    service = _reporting(url, hub, data_dir, database_url, node_keys, durable)
    await service.start(consume=False)  # migrations are not part of the figure
    started = time.perf_counter()
    await service.start()
    # watched by the consumer's own count of events written; the database is asked only once that
    # reaches `count`: asked every 50 ms, in the measured process and its event loop, it took a
    # share of the CPU measured (docs/benchmarks.md)
    seen, applied, last_progress = 0, 0, time.perf_counter()
    while applied < count:
        await asyncio.sleep(0.05)
        if service.timings.events > seen:
            seen, last_progress = service.timings.events, time.perf_counter()
            if seen >= count:
                async with service.read_sessions() as session:
                    applied = (await report_stamp(session)).applied_events
        elif (
            time.perf_counter() - last_progress > STALLED_SECONDS
        ):  # refused events (dead letters) are never applied
            await service.stop()
            raise RuntimeError(
                f"ingest stalled at {applied:,} of {count:,} events: see the dead-letter stream"
            )
    seconds = time.perf_counter() - started
    await service.stop()
    t = service.timings
    return {
        "events": applied,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "lanes_peak_rss_mb": workers_peak_rss_mb(),  # stopped above, so finished children
        "batches": t.batches,
        "split": {"preparing_s": t.preparing, "writing_s": t.writing},
        "cpu_split": {"consumer_s": t.consumer_cpu, "lanes_s": t.lanes_cpu},
    }


async def rebuild(
    url: str,
    hub: str,
    data_dir: str,
    database_url: str | None = None,
    node_keys: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Replaying the whole hub stream into empty projections (``hub rebuild``)."""
    from services.reporting.ingest.rebuild import rebuild as replay

    service = _reporting(url, hub, data_dir, database_url, node_keys)
    await service.start(consume=False)
    nc = await connect(url, "bench-rebuild")
    started = time.perf_counter()
    result = await replay(service, nc)
    seconds = time.perf_counter() - started
    await nc.close()
    await service.stop()
    return {
        "events": result.applied,
        "refused": result.refused,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "workers_peak_rss_mb": workers_peak_rss_mb(),
    }


async def queries(
    url: str,
    hub: str,
    data_dir: str,
    repeats: int,
    period: str = "2024-25",
    database_url: str | None = None,
    burst: int = 0,
    seed: int = 7,
) -> dict[str, Any]:
    """Every GET report route without path parameters and every dashboard page for `period`,
    `repeats` times each: the first request (computed) and p50 and p95 (served) in ms. Then, with
    `burst`, the stream's next `burst` events applied (as an import burst would bring them, leaving
    no quiet time for a warm-up) and the first request of each again: `after_burst_ms`."""
    import httpx

    from harness.timing import time_pages
    from services.reporting.app import create_app
    from services.reporting.dashboard import dashboard_pages

    service = _reporting(url, hub, data_dir, database_url)
    await service.start(consume=False)
    app = create_app(service)
    # /report/audit re-verifies every applied event: an auditor's batch job, timed apart,
    # not a query
    paths = sorted(
        p
        for p, m in app.openapi()["paths"].items()
        if "get" in m and p.startswith("/report") and "{" not in p and p != "/report/audit"
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench"
    ) as client:
        paths += [f"/report/views/{name}" for name in (await client.get("/report/views")).json()]
    figures = await time_pages(
        app, [f"{p}?academic_year={period}&period={period}" for p in paths], repeats
    )
    pages = dashboard_pages(period)
    figures.update(await time_pages(app, pages, repeats))
    if burst:
        service.warmer.after = 0  # a burst leaves no quiet time: nothing computes ahead
        await _apply_burst(service, hub, burst, seed)
        after = await time_pages(app, list(figures), 0)
        for path, f in after.items():
            figures[path].update(after_burst_ms=f["first_ms"], after_burst_status=f["status"])
    await service.stop()
    return {
        "routes": {
            path.split("?", 1)[0] if path not in pages else path: f for path, f in figures.items()
        },
        "burst": burst,
        "peak_rss_mb": peak_rss_mb(),
    }


async def _apply_burst(service: ReportingService, hub: str, burst: int, seed: int) -> None:
    """The `burst` events that follow the stream's in the bench's mix, applied as the live
    consumer applies them, in its batches (nothing checked: the figure is the reads')."""
    from itertools import islice

    from harness.bench import NODES
    from harness.bench_events import event_mix
    from services.reporting.ingest.apply import Incoming
    from services.reporting.read.versioned import data_version

    async with service.sessions() as session:
        applied = (await data_version(session))[0]
    events = islice(event_mix(hub, NODES, applied + burst, seed), applied, None)
    batch = service.own.batch_size
    seq = applied
    while chunk := list(islice(events, batch)):
        incoming = []
        for e in chunk:
            seq += 1
            incoming.append(Incoming(e.subject, e.body, seq))
        outcome = await service.ingest(incoming)
        if outcome.dead:
            raise RuntimeError(f"burst refused: {outcome.dead[0][1]}")


async def dashboard(
    url: str, hub: str, data_dir: str, repeats: int, period: str, database_url: str | None = None
) -> dict[str, Any]:
    """Every dashboard page for `period` as a deployed service serves it: after the warm-up that
    follows a burst of events (timed too), the first visit and p50/p95 of the visits after it."""
    from harness.timing import time_pages
    from services.reporting.app import create_app
    from services.reporting.dashboard import dashboard_pages

    service = _reporting(url, hub, data_dir, database_url)
    await service.start(consume=False)
    started = time.perf_counter()
    await service.warm(period)
    warm_seconds = time.perf_counter() - started
    pages = await time_pages(create_app(service), dashboard_pages(period), repeats)
    await service.stop()
    return {"warm_seconds": warm_seconds, "pages": pages, "peak_rss_mb": peak_rss_mb()}


TASKS: dict[str, Callable[..., Coroutine[Any, Any, dict[str, Any]]]] = {
    "raw_consume": raw_consume,
    "ingest": ingest,
    "rebuild": rebuild,
    "queries": queries,
    "dashboard": dashboard,
}

if __name__ == "__main__":
    task, arguments = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(asyncio.run(TASKS[task](**arguments))))
