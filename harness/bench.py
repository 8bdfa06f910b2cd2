"""``hub bench``: speed and scale, each figure beside the raw NATS client's in the same run.

Absolute times on a shared 2-core machine are noise; ratios against the ceiling measured
moments earlier on the same machine are not. Each heavy measurement runs in its own process
(harness/bench_worker.py) so its time and peak memory are its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from harness.bench_events import academic_years, bench_signers, event_mix, public_keys
from harness.bench_services import SeparateServices, separate_services
from shared.bus import connect, ensure_hub_topology, ensure_node_stream
from shared.nats_server import NatsServer
from shared.settings import HubSettings
from shared.subjects import hub_stream, node_stream

if TYPE_CHECKING:
    from nats.js import JetStreamContext

NODES = ["coventry", "warwickshire", "solihull"]


def node_keys(seed: int) -> dict[str, str]:
    """The node keys file a reporting service needs to check the signatures of a run's events."""
    return public_keys(bench_signers(NODES, seed))


@dataclass(frozen=True)
class BenchPlan:
    ingest_events: int
    rebuild_sizes: tuple[int, ...]
    publish_events: int
    write_rate: float
    write_seconds: float
    query_repeats: int
    burst: int = 0
    """Events applied after the queries' first pass, before timing each route's first request
    again."""
    seed: int = 7

    def sized(self, events: int) -> BenchPlan:
        """The same plan on `events` events everywhere (`hub bench --size N`)."""
        return replace(self, ingest_events=events, rebuild_sizes=(events,), publish_events=events)


STAGES = ("ingest", "publish", "latency", "rebuild", "queries")
"""What `hub bench --only` can pick; queries are timed over a rebuilt database,
so they rebuild too."""

FULL = BenchPlan(200_000, (100_000, 1_000_000), 100_000, 40, 20, 20, burst=2_000)
SMALL = BenchPlan(2_000, (1_000, 3_000), 1_000, 20, 3, 2, burst=200)
SMOKE = BenchPlan(
    300, (200,), 200, 10, 1, 1, burst=50
)  # the test suite's run: proves the harness works, times nothing


def machine() -> dict[str, Any]:
    """What the figures were measured on, and of which commit."""
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
        "commit": _commit(),
    }


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor(),
    )


def _commit() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(Path(__file__).parent), "describe", "--always", "--dirty", "--abbrev=12"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


def worker(task: str, **arguments: Any) -> dict[str, Any]:
    """Run one measurement in a fresh process and return its figures."""
    done = subprocess.run(
        [sys.executable, "-m", "harness.bench_worker", task, json.dumps(arguments)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench worker {task} failed: {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


async def publish_mix(url: str, hub: str, count: int, seed: int) -> float:
    """Put `count` mixed events, each signed by its node, on the node streams (sourced into the hub
    stream); returns seconds."""
    nc = await connect(url, "bench-publish")
    js = nc.jetstream()
    await ensure_hub_topology(js, hub, NODES, 3600)
    started, window = time.perf_counter(), []
    for event in event_mix(hub, NODES, count, seed, bench_signers(NODES, seed)):
        window.append(
            await js.publish_async(
                event.subject, event.body, headers={"Nats-Msg-Id": event.event_id, **event.headers}
            )
        )
        if len(window) >= 2000:
            await asyncio.gather(*window)
            window = []
    await asyncio.gather(*window)
    while (await js.stream_info(hub_stream(hub))).state.messages < count:
        await asyncio.sleep(0.1)
    seconds = time.perf_counter() - started
    await nc.close()
    return seconds


async def bench_ingest(url: str, work: Path, plan: BenchPlan) -> dict[str, Any]:
    """The raw client, then the reporting consumer twice on the same signed stream: with signature
    checks off (node keys unset) and with them on, as the demo and deployments run it."""
    hub = f"bi{uuid.uuid4().hex[:6]}"
    await publish_mix(url, hub, plan.ingest_events, plan.seed)
    raw = worker("raw_consume", url=url, hub=hub, count=plan.ingest_events)
    raw_quick = worker(
        "raw_consume", url=url, hub=hub, count=plan.ingest_events, quick_next_msg=True
    )
    ours = worker("ingest", url=url, hub=hub, data_dir=str(work / hub), count=plan.ingest_events)
    checked = worker(
        "ingest",
        url=url,
        hub=hub,
        data_dir=str(work / hub / "checked"),
        count=plan.ingest_events,
        durable="reporting-checked",
        node_keys=node_keys(plan.seed),
    )
    raw_rate = raw["events"] / raw["seconds"]
    raw_quick_rate = raw_quick["events"] / raw_quick["seconds"]
    return {
        "events": plan.ingest_events,
        "raw_per_s": raw_rate,
        "raw_quick_next_msg_per_s": raw_quick_rate,
        **_ingest_figures(ours, raw, raw_quick_rate),
        "target_ratio": 0.5,
        "signatures_checked": _ingest_figures(checked, raw, raw_quick_rate),
    }


def _ingest_figures(
    ours: dict[str, Any], raw: dict[str, Any], raw_quick_rate: float
) -> dict[str, Any]:
    our_rate = ours["events"] / ours["seconds"]
    return {
        "reporting_per_s": our_rate,
        "ratio": our_rate / (raw["events"] / raw["seconds"]),
        "ratio_to_raw_quick_next_msg": our_rate / raw_quick_rate,
        "reporting_peak_rss_mb": ours["peak_rss_mb"],
        "lanes_peak_rss_mb": ours["lanes_peak_rss_mb"],
        "split_us_per_event": ingest_split(ours, raw),
        "cpu_us_per_event": ingest_cpu(ours),
    }


def ingest_split(ours: dict[str, Any], raw: dict[str, Any]) -> dict[str, float]:
    """Where the reporting consumer's time went, in µs an event, beside the raw client's whole time
    an event: what the ratio is made of (docs/benchmarks.md). Preparing and writing overlap where
    lanes prepare one batch while another is written."""
    split, per_event = ours["split"], 1e6 / ours["events"]
    return {
        "raw_client": raw["seconds"] * 1e6 / raw["events"],
        "total": ours["seconds"] * per_event,
        "preparing": split["preparing_s"] * per_event,
        "writing": split["writing_s"] * per_event,
    }


def ingest_cpu(ours: dict[str, Any]) -> dict[str, float]:
    """CPU time in µs an event, which unlike the wall time the machine's other load does not
    inflate: the consumer's process (all its threads) and its lanes'."""
    split, per_event = ours["cpu_split"], 1e6 / ours["events"]
    return {"consumer": split["consumer_s"] * per_event, "lanes": split["lanes_s"] * per_event}


async def bench_publish(url: str, work: Path, plan: BenchPlan) -> dict[str, Any]:
    """The outbox relay moving committed events to JetStream, each batch signed with the node's key
    as deployed, beside raw publish_async with msg ids (same bodies, same batches)."""
    from services.partners import app as partners_app
    from shared.contracts.partners import OrganisationRegistered
    from shared.envelope import new_event_id
    from shared.relay import OutboxRelay

    hub = f"bp{uuid.uuid4().hex[:6]}"
    settings = HubSettings(hub=hub, data_dir=work / hub, nodes=NODES)
    service = partners_app.build_service(settings, "coventry", url)
    await service.start(relay=False)
    for start in range(0, plan.publish_events, 1000):
        async with service.unit_of_work() as uow:
            for i in range(start, min(start + 1000, plan.publish_events)):
                await uow.emit(
                    OrganisationRegistered(
                        organisation_id=new_event_id(), name=f"Org {i}", roles=["funder"]
                    )
                )
            await uow.commit()
    nc = await connect(url, "bench-relay")
    js = nc.jetstream()
    await ensure_node_stream(js, hub, "coventry", 3600)
    relay = OutboxRelay(  # signing each batch with the node's key, as every deployed relay does
        service.sessions,
        service.outbox,
        nc,
        read_sessions=service.read_sessions,
        signer=bench_signers(NODES, plan.seed)["coventry"],
    )
    pending = await relay.fetch_pending()
    bodies = [(p.subject.replace(".coventry.", ".solihull."), p.body) for p in pending]
    started = time.perf_counter()
    while await relay.relay_once():
        pass
    relay_seconds = time.perf_counter() - started
    await ensure_node_stream(js, hub, "solihull", 3600)
    started = time.perf_counter()
    raw_sent = 0
    while raw_sent < plan.publish_events:  # the same bodies, the same batch size and dedup header
        # fetch_pending returns one relay batch (1000): cycle through it,
        # or this never ends past 1000 events
        chunk = [
            bodies[(raw_sent + i) % len(bodies)]
            for i in range(min(1000, plan.publish_events - raw_sent))
        ]
        futures = [
            await js.publish_async(s, b, headers={"Nats-Msg-Id": uuid.uuid4().hex})
            for s, b in chunk
        ]
        await asyncio.gather(*futures)
        raw_sent += len(chunk)
    raw_seconds = time.perf_counter() - started
    await nc.close()
    await service.stop()
    ours, raw = plan.publish_events / relay_seconds, plan.publish_events / raw_seconds
    return {
        "events": plan.publish_events,
        "raw_per_s": raw,
        "relay_per_s": ours,
        "ratio": ours / raw,
        "signed": True,
        "target_ratio": 0.8,  # issue 26: the relay is light work beside the raw client's
    }


async def bench_write_to_report(url: str, work: Path, plan: BenchPlan) -> dict[str, Any]:
    """HTTP writes at node services at a steady rate; time until each is visible in the hub report.

    Measured as deployed: reporting and each node's partners service run as processes of their
    own (harness/bench_services.py), nodes signing what they publish and reporting checking every
    signature. This process only writes and watches the reporting database (read-only, the rows
    added since its last look): with every service in one process, as this bench ran before, each
    database call of a small batch waited on the one busy event loop, and the tail measured the
    machine's load more than the system (docs/benchmarks.md)."""
    hub = f"bw{uuid.uuid4().hex[:6]}"
    signers = bench_signers(NODES, plan.seed)
    async with separate_services(url, work / hub, hub, signers) as services:
        cpu_before = {p.name: p.cpu_seconds() for p in services.all()}
        written, answered, seen, achieved = await _steady_writes(services, plan)
        cpu = {p.name: p.cpu_seconds() - cpu_before[p.name] for p in services.all()}
    load = os.getloadavg()
    latencies = sorted((seen[k] - t) * 1000 for k, t in written.items())
    stages = await _write_stages(url, hub, written, answered, seen)
    return {
        "writes": len(written),
        "rate_per_s": achieved,
        **percentiles(latencies),
        "target_p99_ms": 1000,
        "stages_ms": stages,
        "cpu_s": cpu,
        "load_average": load,
    }


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95 and p99 of sorted `values` (the nearest rank at or above each)."""
    if not values:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}

    def pick(q: float) -> float:
        return values[min(len(values) - 1, int(len(values) * q))]

    return {"p50_ms": pick(0.5), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}


async def _steady_writes(
    services: SeparateServices, plan: BenchPlan
) -> tuple[dict[str, float], dict[str, float], dict[str, float], float]:
    """Register organisations at the nodes' partners services in turn at the plan's rate; when each
    was sent, answered and seen in the reporting database (perf_counter), and the rate achieved."""
    written: dict[str, float] = {}
    answered: dict[str, float] = {}
    seen: dict[str, float] = {}
    nodes = list(services.partners)
    clients = {
        node: httpx.AsyncClient(base_url=proc.url, timeout=30)
        for node, proc in services.partners.items()
    }

    async def write(i: int) -> None:
        node = nodes[i % len(nodes)]
        started = time.perf_counter()
        response = await clients[node].post(
            "/organisations", json={"name": f"Org {i}", "roles": ["delivery_partner"]}
        )
        response.raise_for_status()
        organisation = response.json()["organisation_id"]
        written[organisation], answered[organisation] = started, time.perf_counter()

    stop = asyncio.Event()

    def all_seen() -> bool:
        return stop.is_set() and seen.keys() >= written.keys()

    watcher = asyncio.create_task(_watch_reported(services.reporting_db, seen, all_seen))
    total = int(plan.write_rate * plan.write_seconds)
    started = time.perf_counter()
    tasks = []
    try:
        for i in range(total):
            await asyncio.sleep(max(0.0, started + i / plan.write_rate - time.perf_counter()))
            tasks.append(asyncio.create_task(write(i)))
        await asyncio.gather(*tasks)
        achieved = total / (time.perf_counter() - started)
        stop.set()
        await asyncio.wait_for(watcher, 60)
    finally:
        watcher.cancel()
        for client in clients.values():
            await client.aclose()
    return written, answered, seen, achieved


async def _watch_reported(
    database: Path, seen: dict[str, float], done: Callable[[], bool], every: float = 0.005
) -> None:
    """Every `every` seconds, the organisations reporting has committed since the last look, each
    stamped with when it was first seen: one read-only query of new rows (SQLite's rowid: rows are
    only added here), in this process, apart from the services measured."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    last = 0
    try:
        while not done():
            rows = db.execute(
                "SELECT organisation_id, rowid FROM organisation_view WHERE rowid > ?", (last,)
            ).fetchall()
            now = time.perf_counter()
            for organisation_id, added in rows:
                seen.setdefault(organisation_id, now)
                last = max(last, added)
            await asyncio.sleep(every)
    finally:
        db.close()


async def _write_stages(
    url: str,
    hub: str,
    written: dict[str, float],
    answered: dict[str, float],
    seen: dict[str, float],
) -> dict[str, dict[str, float]]:
    """Where each write's time went, from the streams' own timestamps (read after the run): the
    node's answer to the HTTP write; until its relay's message was stored in the node stream
    (the commit, the relay's wake-up, read, signature and publish); until the hub stream had
    sourced it; until the reporting database showed it (fetch, check, apply, commit, and this
    bench's look every 5 ms). p50/p95/p99 of each, in ms; the last three add up to the total."""
    offset = time.time() - time.perf_counter()  # the streams stamp wall-clock time
    nc = await connect(url, "bench-stages")
    js = nc.jetstream()
    try:
        in_node = {
            org: at
            for node in NODES
            for org, at in (await _stored_at(js, node_stream(hub, node), offset)).items()
        }
        in_hub = await _stored_at(js, hub_stream(hub), offset)
    finally:
        await nc.close()
    stages: dict[str, list[float]] = {
        "http_answer": [],
        "to_node_stream": [],
        "sourced": [],
        "reporting": [],
    }
    for org, sent in written.items():
        if org not in in_node or org not in in_hub or org not in seen:
            continue
        stages["http_answer"].append((answered[org] - sent) * 1000)
        stages["to_node_stream"].append((in_node[org] - sent) * 1000)
        stages["sourced"].append((in_hub[org] - in_node[org]) * 1000)
        stages["reporting"].append((seen[org] - in_hub[org]) * 1000)
    return {stage: percentiles(sorted(values)) for stage, values in stages.items()}


async def _stored_at(js: JetStreamContext, stream: str, offset: float) -> dict[str, float]:
    """Each organisation registered in `stream` → when the stream stored it (perf_counter's
    clock)."""
    info = await js.stream_info(stream)
    stored: dict[str, float] = {}
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        event = json.loads(msg.data or b"{}")
        organisation = event.get("payload", {}).get("organisation_id")
        if organisation and msg.time is not None:
            stored[organisation] = msg.time.timestamp() - offset
    return stored


async def bench_rebuild(
    url: str,
    work: Path,
    plan: BenchPlan,
    postgres_dsn: str | None,
    log: Callable[[str], None],
    stages: Collection[str] = STAGES,
) -> dict[str, Any]:
    """At each size: replaying the hub stream into empty projections (with and without signature
    checks), the live consumer applying the same stream (its rate and memory at that size), then
    every report query; `stages` without "rebuild" keeps only the replay the queries need, without
    "queries" skips them."""
    figures: dict[str, Any] = {}
    for size in plan.rebuild_sizes:
        hub = f"br{uuid.uuid4().hex[:6]}"
        log(f"rebuild: publishing {size:,} events")
        await publish_mix(url, hub, size, plan.seed)
        log(f"rebuild: the raw client reading {size:,} events")
        raw = worker("raw_consume", url=url, hub=hub, count=size)
        raw_per_s = raw["events"] / raw["seconds"]
        log(f"rebuild: replaying {size:,} events on SQLite")
        sqlite = worker("rebuild", url=url, hub=hub, data_dir=str(work / hub))
        entry = {
            "raw_read_per_s": raw_per_s,
            "sqlite_seconds": sqlite["seconds"],
            "sqlite_per_s": sqlite["events"] / sqlite["seconds"],
            "sqlite_ratio": sqlite["events"] / sqlite["seconds"] / raw_per_s,
            "sqlite_peak_rss_mb": sqlite["peak_rss_mb"],
            "events": sqlite["events"],
            "sqlite_workers_peak_rss_mb": sqlite["workers_peak_rss_mb"],
        }
        if "rebuild" in stages:
            entry.update(await _rebuild_variants(url, work, hub, size, plan, postgres_dsn, log))
            entry["sqlite_checked_ratio"] = entry["sqlite_checked_per_s"] / raw_per_s
        if "queries" in stages:
            entry.update(await _queries(url, work, hub, size, plan, log))
        figures[str(size)] = entry
    return figures


async def _rebuild_variants(
    url: str,
    work: Path,
    hub: str,
    size: int,
    plan: BenchPlan,
    postgres_dsn: str | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The rebuild with every signature checked, the live consumer, and PostgreSQL,
    on one size's stream."""
    log(f"rebuild: replaying {size:,} events on SQLite, checking every signature")
    checked = worker(
        "rebuild",
        url=url,
        hub=hub,
        data_dir=str(work / hub / "checked"),
        node_keys=node_keys(plan.seed),
    )
    entry: dict[str, Any] = {
        "sqlite_checked_seconds": checked["seconds"],
        "sqlite_checked_per_s": checked["events"] / checked["seconds"],
        "sqlite_checked_refused": checked["refused"],
    }
    shutil.rmtree(work / hub / "checked")
    log(f"ingest: the live consumer applying {size:,} events on SQLite")
    live = worker("ingest", url=url, hub=hub, data_dir=str(work / hub / "live"), count=size)
    entry.update(
        ingest_events=live["events"],
        ingest_seconds=live["seconds"],
        ingest_per_s=live["events"] / live["seconds"],
        ingest_peak_rss_mb=live["peak_rss_mb"],
    )
    shutil.rmtree(work / hub / "live")
    database_url = await _fresh_postgres(postgres_dsn, log) if postgres_dsn else None
    if database_url and postgres_dsn:
        log(f"rebuild: replaying {size:,} events on PostgreSQL")
        pg = worker(
            "rebuild", url=url, hub=hub, data_dir=str(work / hub / "pg"), database_url=database_url
        )
        entry.update(
            postgres_seconds=pg["seconds"],
            postgres_per_s=pg["events"] / pg["seconds"],
            postgres_peak_rss_mb=pg["peak_rss_mb"],
        )
        await _drop_postgres(postgres_dsn, database_url.rsplit("/", 1)[1])
    return entry


async def _queries(
    url: str, work: Path, hub: str, size: int, plan: BenchPlan, log: Callable[[str], None]
) -> dict[str, Any]:
    """Every report route, then every dashboard page after the warm-up,
    over one size's rebuilt database."""
    log(f"rebuild: timing every report route over {size:,} events")
    period = academic_years(size)[-1]  # the latest year, with every earlier year behind it
    routes = worker(
        "queries",
        url=url,
        hub=hub,
        data_dir=str(work / hub),
        repeats=plan.query_repeats,
        period=period,
        burst=plan.burst,
        seed=plan.seed,
    )
    log(f"rebuild: timing the dashboard after its warm-up over {size:,} events")
    dashboard = worker(
        "dashboard",
        url=url,
        hub=hub,
        data_dir=str(work / hub),
        repeats=plan.query_repeats,
        period=period,
    )
    return {
        "queries_period": period,
        "queries": routes["routes"],
        "queries_burst": routes["burst"],
        "dashboard": dashboard,
    }


async def _fresh_postgres(dsn: str, log: Callable[[str], None]) -> str | None:
    """A new empty database on the server `dsn` names, or None
    (said in the log) if it does not answer."""
    import asyncpg

    name = f"hl_bench_{uuid.uuid4().hex[:8]}"
    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn), 5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        log(f"PostgreSQL at {dsn} not reachable ({exc}); SQLite figures only")
        return None
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


async def _drop_postgres(dsn: str, name: str) -> None:
    """Remove a database `_fresh_postgres` made (a million-event run leaves gigabytes otherwise)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def run_bench(
    plan: BenchPlan,
    work: Path,
    postgres_dsn: str | None,
    log: Callable[[str], None],
    only: Collection[str] = STAGES,
) -> dict[str, Any]:
    """The measurements `only` names (all by default), each beside the raw client in this run."""
    server = NatsServer(work / "nats").start()
    try:
        results: dict[str, Any] = {
            "machine": machine(),
            "plan": asdict(plan),
            "stages": [s for s in STAGES if s in only],
            "started": time.strftime("%Y-%m-%d %H:%M"),
        }
        if "ingest" in only:
            log("ingest: raw nats-py consumer vs reporting consumer")
            results["ingest"] = await bench_ingest(server.url, work, plan)
        if "publish" in only:
            log("publish: raw publish_async vs outbox relay")
            results["publish"] = await bench_publish(server.url, work, plan)
        if "latency" in only:
            log("write to report: steady HTTP writes, time to visible")
            results["write_to_report"] = await bench_write_to_report(server.url, work, plan)
        if "rebuild" in only or "queries" in only:
            results["rebuild"] = await bench_rebuild(
                server.url, work, plan, postgres_dsn, log, only
            )
        return results
    finally:
        server.stop()


def render_tables(results: dict[str, Any]) -> list[Any]:
    """Rich tables of a run, for people; the JSON is for machines and docs/benchmarks.md. A run of
    some stages only (`--only`) gets the tables of those."""
    tables: list[Any] = []
    if "ingest" in results or "publish" in results:
        tables.append(_ratios_table(results))
    if "ingest" in results:
        tables.append(_split_table(results["ingest"]))
    if "write_to_report" in results:
        tables.append(_latency_table(results["write_to_report"]))
    rebuilt = results.get("rebuild") or {}
    if rebuilt and "sqlite_checked_seconds" in next(iter(rebuilt.values())):
        tables.append(_rebuild_table(rebuilt))
    if rebuilt and "queries" in next(iter(rebuilt.values())):
        tables.extend(_query_tables(rebuilt))
    return tables


def _table(title: str, columns: tuple[str, ...], left: str = "") -> Any:
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column == left else "right")
    return table


def _ratios_table(results: dict[str, Any]) -> Any:
    ratios = _table(
        "throughput beside the raw nats-py client (same run)",
        ("measure", "events", "raw nats-py /s", "Hub Ledger /s", "ratio", "target"),
        left="measure",
    )
    if ingest := results.get("ingest"):
        checked = ingest["signatures_checked"]
        ratios.add_row(
            "ingest (reporting consumer, signature checks off)",
            f"{ingest['events']:,}",
            f"{ingest['raw_per_s']:,.0f}",
            f"{ingest['reporting_per_s']:,.0f}",
            f"{ingest['ratio']:.2f}",
            "≥ 0.50",
        )
        ratios.add_row(
            "ingest (every signature checked, as deployed)",
            f"{ingest['events']:,}",
            f"{ingest['raw_per_s']:,.0f}",
            f"{checked['reporting_per_s']:,.0f}",
            f"{checked['ratio']:.2f}",
            "≥ 0.50",
        )
        ratios.add_row(
            "ingest checked, beside raw nats-py given our fetch fix (quick_next_msg)",
            f"{ingest['events']:,}",
            f"{ingest['raw_quick_next_msg_per_s']:,.0f}",
            f"{checked['reporting_per_s']:,.0f}",
            f"{checked['ratio_to_raw_quick_next_msg']:.2f}",
            "",
        )
    if publish := results.get("publish"):
        ratios.add_row(
            "publish (outbox relay)",
            f"{publish['events']:,}",
            f"{publish['raw_per_s']:,.0f}",
            f"{publish['relay_per_s']:,.0f}",
            f"{publish['ratio']:.2f}",
            f"≥ {publish['target_ratio']:.2f}",
        )
    return ratios


def _split_table(ingest: dict[str, Any]) -> Any:
    split = _table(
        "ingest: where the reporting consumer's time goes, µs an event (beside the raw client's)",
        (
            "signatures",
            "raw nats-py (fetch, ack)",
            "reporting in all",
            "preparing (parse, check, project)",
            "writing (the transaction)",
            "CPU: consumer / lanes",
        ),
        left="signatures",
    )
    for label, figures in (("not checked", ingest), ("checked", ingest["signatures_checked"])):
        per_event, cpu = figures["split_us_per_event"], figures["cpu_us_per_event"]
        split.add_row(
            label,
            *(f"{per_event[k]:.0f}" for k in ("raw_client", "total", "preparing", "writing")),
            " / ".join(f"{cpu[k]:.0f}" for k in ("consumer", "lanes")),
        )
    return split


def _latency_table(latency: dict[str, Any]) -> Any:
    lat = _table(
        "write to report (HTTP write → visible in hub report; services in processes of their own)",
        ("measure", "writes", "rate /s", "p50 ms", "p95 ms", "p99 ms", "target p99"),
        left="measure",
    )
    lat.add_row(
        "write to report",
        f"{latency['writes']:,}",
        f"{latency['rate_per_s']:.1f}",
        f"{latency['p50_ms']:.0f}",
        f"{latency['p95_ms']:.0f}",
        f"{latency['p99_ms']:.0f}",
        "< 1000",
    )
    for stage, label in STAGE_LABELS.items():
        figures = latency.get("stages_ms", {}).get(stage)
        if figures:
            lat.add_row(
                label, "", "", *(f"{figures[k]:.0f}" for k in ("p50_ms", "p95_ms", "p99_ms")), ""
            )
    return lat


STAGE_LABELS = {
    "http_answer": "  the node's HTTP answer",
    "to_node_stream": "  stage 1: committed, relayed, in the node stream",
    "sourced": "  stage 2: sourced into the hub stream",
    "reporting": "  stage 3: fetched, checked, applied, seen in reporting",
}


def _rebuild_table(rebuilt: dict[str, Any]) -> Any:
    rebuild = _table(
        "rebuild: replay into empty projections; live ingest of the same stream (and peak memory)",
        (
            "events",
            "raw nats-py read /s",
            "SQLite s",
            "SQLite /s (ratio)",
            "SQLite peak MB (worker)",
            "SQLite s, signatures checked (ratio)",
            "live ingest /s",
            "live peak MB",
            "PostgreSQL s",
            "PostgreSQL /s",
            "slowest p95 ms",
            "slowest first ms",
            "slowest first after a burst ms",
        ),
    )
    for size, r in rebuilt.items():
        queries = r.get("queries") or {"-": {"p95_ms": float("nan"), "first_ms": float("nan")}}
        slowest = max(queries.items(), key=lambda kv: kv[1]["p95_ms"])
        coldest = max(queries.items(), key=lambda kv: kv[1]["first_ms"])
        burst = max(queries.items(), key=lambda kv: kv[1].get("after_burst_ms", float("nan")))
        rebuild.add_row(
            f"{int(size):,}",
            f"{r['raw_read_per_s']:,.0f}",
            f"{r['sqlite_seconds']:.1f}",
            f"{r['sqlite_per_s']:,.0f} ({r['sqlite_ratio']:.2f})",
            f"{r['sqlite_peak_rss_mb']:.0f} ({r['sqlite_workers_peak_rss_mb']:.0f})",
            f"{r['sqlite_checked_seconds']:.1f} ({r['sqlite_checked_ratio']:.2f})",
            f"{r['ingest_per_s']:,.0f}",
            f"{r['ingest_peak_rss_mb']:.0f}",
            f"{r.get('postgres_seconds', float('nan')):.1f}",
            f"{r.get('postgres_per_s', float('nan')):,.0f}",
            f"{slowest[1]['p95_ms']:.0f} ({slowest[0]})",
            f"{coldest[1]['first_ms']:.0f} ({coldest[0]})",
            f"{burst[1].get('after_burst_ms', float('nan')):.0f} ({burst[0]})",
        )
    return rebuild


def _query_tables(rebuilt: dict[str, Any]) -> list[Any]:
    size = max(rebuilt, key=int)
    largest = rebuilt[size]
    queries = _table(
        f"report routes and dashboard pages over {int(size):,} events, {largest['queries_period']} "
        "(first request computes; p50/p95 of those after; then the first request again after a "
        f"burst of {largest.get('queries_burst', 0):,} more events; "
        "targets: p95 < 300 ms, first < 2 s)",
        ("route", "status", "first ms (computed)", "p50 ms", "p95 ms", "first after a burst ms"),
        left="route",
    )
    for path, q in sorted(largest["queries"].items()):
        queries.add_row(
            path,
            str(q["status"]),
            f"{q['first_ms']:.1f}",
            f"{q['p50_ms']:.1f}",
            f"{q['p95_ms']:.1f}",
            f"{q.get('after_burst_ms', float('nan')):.1f}",
        )
    board = _table(
        f"dashboard pages after the warm-up ({largest['dashboard']['warm_seconds']:.1f} s) over "
        f"{int(size):,} events, {largest['queries_period']} (target < 300 ms)",
        ("page", "status", "first visit ms", "p50 ms", "p95 ms"),
        left="page",
    )
    for path, q in sorted(largest["dashboard"]["pages"].items()):
        board.add_row(
            path,
            str(q["status"]),
            f"{q['first_ms']:.1f}",
            f"{q['p50_ms']:.1f}",
            f"{q['p95_ms']:.1f}",
        )
    return [queries, board]
