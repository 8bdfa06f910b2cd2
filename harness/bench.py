"""``hub bench``: speed and scale, each figure beside the raw NATS client's in the same run.

Absolute times on a shared 2-core machine are noise; ratios against the ceiling measured
moments earlier on the same machine are not. Each heavy measurement runs in its own process
(harness/bench_worker.py) so its time and peak memory are its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from harness.bench_events import academic_years, bench_signers, event_mix, public_keys
from shared.bus import connect, ensure_hub_topology, ensure_node_stream
from shared.nats_server import NatsServer
from shared.settings import HubSettings
from shared.subjects import hub_stream

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
    seed: int = 7

    def sized(self, events: int) -> BenchPlan:
        """The same plan on `events` events everywhere (`hub bench --size N`)."""
        return replace(self, ingest_events=events, rebuild_sizes=(events,), publish_events=events)


STAGES = ("ingest", "publish", "latency", "rebuild", "queries")
"""What `hub bench --only` can pick; queries are timed over a rebuilt database,
so they rebuild too."""

FULL = BenchPlan(200_000, (100_000, 1_000_000), 100_000, 40, 20, 20)
SMALL = BenchPlan(2_000, (1_000, 3_000), 1_000, 20, 3, 2)
SMOKE = BenchPlan(
    300, (200,), 200, 10, 1, 1
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
    return {
        "events": plan.ingest_events,
        "raw_per_s": raw_rate,
        **_ingest_figures(ours, raw),
        "target_ratio": 0.5,
        "signatures_checked": _ingest_figures(checked, raw),
    }


def _ingest_figures(ours: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    our_rate = ours["events"] / ours["seconds"]
    return {
        "reporting_per_s": our_rate,
        "ratio": our_rate / (raw["events"] / raw["seconds"]),
        "reporting_peak_rss_mb": ours["peak_rss_mb"],
        "split_us_per_event": ingest_split(ours, raw),
    }


def ingest_split(ours: dict[str, Any], raw: dict[str, Any]) -> dict[str, float]:
    """Where the reporting consumer's time went, in µs an event, beside the raw client's whole time
    an event: what the ratio is made of (docs/benchmarks.md)."""
    split, per_event = ours["split"], 1e6 / ours["events"]
    return {
        "raw_client": raw["seconds"] * 1e6 / raw["events"],
        "total": ours["seconds"] * per_event,
        "preparing": split["preparing_s"] * per_event,
        "writing": split["writing_s"] * per_event,
        "between_batches": split["between_s"] * per_event,
    }


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
        "target_ratio": 0.5,
    }


async def bench_write_to_report(url: str, work: Path, plan: BenchPlan) -> dict[str, Any]:
    """HTTP writes at node services at a steady rate;
    time until each is visible in the hub report."""
    from sqlalchemy import Integer, literal_column, select

    from hub.runner import Wiring, start_system
    from services.reporting.models import OrganisationView

    hub = f"bw{uuid.uuid4().hex[:6]}"
    settings = HubSettings(hub=hub, data_dir=work / hub, nodes=NODES)
    system = await start_system(
        settings, Wiring.single_server(url, NODES), base_port=28100, move_taken_ports=True
    )
    reporting = system.reporting_service
    assert reporting is not None  # started in this process by start_system
    written: dict[str, float] = {}
    seen: dict[str, float] = {}
    clients = {
        node: httpx.AsyncClient(base_url=system.urls[(node, "partners")], timeout=30)
        for node in NODES
    }

    async def write(i: int) -> None:
        node = NODES[i % len(NODES)]
        started = time.perf_counter()
        response = await clients[node].post(
            "/organisations", json={"name": f"Org {i}", "roles": ["delivery_partner"]}
        )
        written[response.json()["organisation_id"]] = started

    # Look when reporting has committed a batch (and now and then), at the rows added since the
    # last look: polling the whole table every 5 ms cost this process, which also runs every
    # service measured, a quarter to a third of a core, more as the table grew (docs/benchmarks.md)
    committed = asyncio.Event()
    apply = reporting.apply

    async def apply_then_look(prepared: Any) -> Any:
        outcome = await apply(prepared)
        committed.set()
        return outcome

    reporting.apply = apply_then_look  # type: ignore[method-assign]
    rowid = literal_column("rowid", Integer)  # SQLite's: rows are only added here, in rowid order

    async def watch(stop: asyncio.Event) -> None:
        last = 0
        while not stop.is_set() or len(seen) < len(written):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await committed.wait()
            committed.clear()
            async with reporting.read_sessions() as session:
                rows = await session.execute(
                    select(OrganisationView.organisation_id, rowid).where(rowid > last)
                )
            now = time.perf_counter()
            for organisation_id, added in rows:
                seen.setdefault(organisation_id, now)
                last = max(last, added)

    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(stop))
    total = int(plan.write_rate * plan.write_seconds)
    started = time.perf_counter()
    tasks = []
    for i in range(total):
        await asyncio.sleep(max(0.0, started + i / plan.write_rate - time.perf_counter()))
        tasks.append(asyncio.create_task(write(i)))
    await asyncio.gather(*tasks)
    achieved = total / (time.perf_counter() - started)
    stop.set()
    await asyncio.wait_for(watcher, 60)
    for client in clients.values():
        await client.aclose()
    await system.stop()
    latencies = sorted((seen[k] - t) * 1000 for k, t in written.items())

    def pick(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))]

    return {
        "writes": total,
        "rate_per_s": achieved,
        "p50_ms": pick(0.5),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "target_p99_ms": 1000,
    }


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
        log(f"rebuild: replaying {size:,} events on SQLite")
        sqlite = worker("rebuild", url=url, hub=hub, data_dir=str(work / hub))
        entry = {
            "sqlite_seconds": sqlite["seconds"],
            "sqlite_per_s": sqlite["events"] / sqlite["seconds"],
            "sqlite_peak_rss_mb": sqlite["peak_rss_mb"],
            "events": sqlite["events"],
            "sqlite_workers_peak_rss_mb": sqlite["workers_peak_rss_mb"],
        }
        if "rebuild" in stages:
            entry.update(await _rebuild_variants(url, work, hub, size, plan, postgres_dsn, log))
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
    return {"queries_period": period, "queries": routes["routes"], "dashboard": dashboard}


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
    if publish := results.get("publish"):
        ratios.add_row(
            "publish (outbox relay)",
            f"{publish['events']:,}",
            f"{publish['raw_per_s']:,.0f}",
            f"{publish['relay_per_s']:,.0f}",
            f"{publish['ratio']:.2f}",
            "≥ 0.50",
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
            "between batches (fetch, ack)",
        ),
        left="signatures",
    )
    for label, figures in (("not checked", ingest), ("checked", ingest["signatures_checked"])):
        per_event = figures["split_us_per_event"]
        split.add_row(
            label,
            *(
                f"{per_event[k]:.0f}"
                for k in ("raw_client", "total", "preparing", "writing", "between_batches")
            ),
        )
    return split


def _latency_table(latency: dict[str, Any]) -> Any:
    lat = _table(
        "write to report (HTTP write → visible in hub report)",
        ("writes", "rate /s", "p50 ms", "p95 ms", "p99 ms", "target p99"),
    )
    lat.add_row(
        f"{latency['writes']:,}",
        f"{latency['rate_per_s']:.1f}",
        f"{latency['p50_ms']:.0f}",
        f"{latency['p95_ms']:.0f}",
        f"{latency['p99_ms']:.0f}",
        "< 1000",
    )
    return lat


def _rebuild_table(rebuilt: dict[str, Any]) -> Any:
    rebuild = _table(
        "rebuild: replay into empty projections; live ingest of the same stream (and peak memory)",
        (
            "events",
            "SQLite s",
            "SQLite /s",
            "SQLite peak MB (worker)",
            "SQLite s, signatures checked",
            "live ingest /s",
            "live peak MB",
            "PostgreSQL s",
            "PostgreSQL /s",
            "slowest p95 ms",
            "slowest first ms",
        ),
    )
    for size, r in rebuilt.items():
        queries = r.get("queries") or {"-": {"p95_ms": float("nan"), "first_ms": float("nan")}}
        slowest = max(queries.items(), key=lambda kv: kv[1]["p95_ms"])
        coldest = max(queries.items(), key=lambda kv: kv[1]["first_ms"])
        rebuild.add_row(
            f"{int(size):,}",
            f"{r['sqlite_seconds']:.1f}",
            f"{r['sqlite_per_s']:,.0f}",
            f"{r['sqlite_peak_rss_mb']:.0f} ({r['sqlite_workers_peak_rss_mb']:.0f})",
            f"{r['sqlite_checked_seconds']:.1f}",
            f"{r['ingest_per_s']:,.0f}",
            f"{r['ingest_peak_rss_mb']:.0f}",
            f"{r.get('postgres_seconds', float('nan')):.1f}",
            f"{r.get('postgres_per_s', float('nan')):,.0f}",
            f"{slowest[1]['p95_ms']:.0f} ({slowest[0]})",
            f"{coldest[1]['first_ms']:.0f} ({coldest[0]})",
        )
    return rebuild


def _query_tables(rebuilt: dict[str, Any]) -> list[Any]:
    size = max(rebuilt, key=int)
    largest = rebuilt[size]
    queries = _table(
        f"report routes and dashboard pages over {int(size):,} events, {largest['queries_period']} "
        "(first request computes; p50/p95 of those after; target p95 < 300 ms)",
        ("route", "status", "first ms (computed)", "p50 ms", "p95 ms"),
        left="route",
    )
    for path, q in sorted(largest["queries"].items()):
        queries.add_row(
            path,
            str(q["status"]),
            f"{q['first_ms']:.1f}",
            f"{q['p50_ms']:.1f}",
            f"{q['p95_ms']:.1f}",
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
