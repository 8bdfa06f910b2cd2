"""``hub demo``: the whole hub on one machine: embedded NATS, three nodes, reporting, sample data."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.identity import SERVICES
from shared.nats_server import NatsServer
from shared.settings import HubSettings
from services.reporting.queries import HubReport
from hub import render
from hub.runner import EMBEDDED_NATS_PORT, RunningSystem, port_or_free, start_system
from hub.sample import load_sample


async def run_demo(settings: HubSettings, *, base_port: int, wait: bool, activities_per_node: int) -> HubReport:
    nats = NatsServer(settings.data_dir / "nats", port=port_or_free(EMBEDDED_NATS_PORT)).start()
    system: RunningSystem | None = None
    try:
        render.console.print(f"[bold]nats-server[/bold] (JetStream) on {nats.url}, data in {settings.data_dir}")
        system = await start_system(settings, nats.url, base_port=base_port)
        expected = len(settings.nodes) * (activities_per_node + 20) + 12
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=render.console,
        ) as progress:
            task = progress.add_task("loading the Heart of England sample", total=expected)
            load = await load_sample(
                system.urls, settings.nodes, activities_per_node=activities_per_node,
                progress=lambda n: progress.advance(task, n),
            )
            progress.update(task, total=load.total, completed=load.total)
        report = await wait_for_report(system.reporting_url, load.total)
        render.console.print(render.report_table(report))
        render.console.print(_where_to_look(system, settings))
        if wait:
            render.console.print("[bold]Serving. Ctrl-C stops everything.[/bold]")
            await _until_interrupted()
        return report
    finally:
        if system is not None:
            await system.stop()
        await nats.astop()


async def wait_for_report(reporting_url: str, events: int, timeout: float = 60.0) -> HubReport:
    """Poll the hub report until it reflects `events` applied events."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=reporting_url, timeout=10) as client:
        while True:
            report = HubReport.model_validate((await client.get("/report")).json())
            if report.stamp.applied_events >= events or time.monotonic() > deadline:
                return report
            await asyncio.sleep(0.1)


def _where_to_look(system: RunningSystem, settings: HubSettings) -> Table:
    table = Table(title="where to look")
    table.add_column("what")
    table.add_column("URL")
    table.add_row("hub report (JSON)", f"{system.reporting_url}/report")
    table.add_row("data health", f"{system.reporting_url}/report/data-health")
    table.add_row("reporting API docs", f"{system.reporting_url}/docs")
    for node in settings.nodes:
        for service in SERVICES:
            table.add_row(f"{node} {service} API docs", f"{system.urls[(node, service)]}/docs")
    table.add_row("from the shell", f"hub report --data-dir {settings.data_dir}")
    return table


async def _until_interrupted() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
