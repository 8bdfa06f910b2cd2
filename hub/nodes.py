"""``hub hub up`` and ``hub node up``: run the hub, or one node, as its operator would: its NATS
server (rendered from deploy/nats) and its services, each started by its own entry, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable

from hub import render
from hub.runner import until_interrupted
from hub.topology import HubTopology, Ports, Secrets, provisioned_hub
from services.reporting import app as reporting_app
from services.reporting.settings import ReportingSettings
from shared.identity import SERVICES
from shared.settings import HubSettings


def deployment(settings: HubSettings, ports: Ports) -> HubTopology:
    """Secrets under the data folder (created on first use) and the hub's settings for
    leaf nodes."""
    secrets = Secrets.load_or_create(settings.secrets_dir, settings.nodes)
    settings = settings.model_copy(
        update={"node_domains": True, "auth_tokens_file": secrets.tokens_file}
    )
    return HubTopology(settings, secrets, ports)


async def run_hub(topology: HubTopology, host: str, port: int | None) -> None:
    """The hub's NATS server, its streams provisioned, and reporting served by its own entry."""
    topology.start_hub()
    try:
        async with provisioned_hub(topology):
            own = ReportingSettings(
                node_keys_file=topology.secrets.node_keys_file, provision_streams=False
            )
            port = port or topology.settings.service_port("reporting")
            render.console.print(
                f"hub NATS :{topology.ports.hub} (leaf links :{topology.ports.hub_leaf}); "
                f"reporting http://{host}:{port}"
            )
            await reporting_app.serve(
                topology.settings, host=host, port=port, nats_url=topology.reporting_url, own=own
            )
    finally:
        await asyncio.to_thread(topology.stop)


async def run_node(topology: HubTopology, node: str, host: str, base_port: int | None) -> None:
    """The node's NATS leaf server, then each of its services as its own process (`hub serve`, so
    each traces under its own name), until Ctrl-C or until one of them stops (exit 1: restart)."""
    settings = topology.settings
    if node not in settings.nodes:
        raise SystemExit(f"{node!r} is not one of the hub's nodes {settings.nodes} (HUB_NODES)")
    topology.start_node(node)
    processes: list[asyncio.subprocess.Process] = []
    try:
        ports = {
            service: base_port + offset if base_port else settings.service_port(service, node)
            for offset, service in enumerate(SERVICES, start=1)
        }
        for service, port in ports.items():
            processes.append(
                await _start_service(topology, service, node, host, port, ports["partners"])
            )
            render.console.print(f"{node} {service}: http://{host}:{port}")
        render.console.print(
            f"{node} NATS leaf server :{topology.ports.node(node)} → hub leaf "
            f":{topology.ports.hub_leaf}"
        )
        exit_code = await _first_to_finish(until_interrupted(), *(p.wait() for p in processes))
        if exit_code not in (None, 0):
            raise SystemExit(f"{node}: a service stopped; stopping the node")
    finally:
        await _stop(processes)
        await asyncio.to_thread(topology.stop)


async def _start_service(
    topology: HubTopology, service: str, node: str, host: str, port: int, partners_port: int
) -> asyncio.subprocess.Process:
    """`hub serve <service>` on the node's leaf server, with the node's settings (the NATS URL's
    password goes by environment, never on a command line others can read)."""
    s = topology.settings
    env = {
        **os.environ,
        "HUB_NATS_URL": topology.node_services_url(node),
        "HUB_NODE_DOMAINS": "true",
        "HUB_AUTH_TOKENS_FILE": str(s.auth_tokens_file),
        "HUB_DATA_DIR": str(s.data_dir),
        "HUB_ACTIVITIES_PARTNERS_URL": f"http://{host}:{partners_port}",  # its settings register
    }
    args = ["-m", "hub.cli", "serve", service, "--node", node, "--host", host, "--port", str(port)]
    return await asyncio.create_subprocess_exec(sys.executable, *args, env=env)


async def _first_to_finish(*waits: Awaitable[int | None]) -> int | None:
    """Wait for the first of `waits` (an interrupt returns None, a process its exit code)."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return next(iter(done)).result()


async def _stop(processes: list[asyncio.subprocess.Process]) -> None:
    """Ask every service to stop as Ctrl-C would (they drain their relay),
    kill any that will not."""
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
