"""``hub hub up`` and ``hub node up``: run the hub, or one node, as its own set of processes' worth
of work: its NATS server (rendered from deploy/nats) and its services, until Ctrl-C."""

from __future__ import annotations

import asyncio

from shared.identity import SERVICES
from shared.settings import HubSettings
from services.reporting.settings import ReportingSettings
from hub import render
from hub.demo import _until_interrupted, provisioned_hub
from hub.runner import RunningSystem, node_app, reporting_asgi
from hub.topology import HubTopology, Ports, Secrets


def deployment(settings: HubSettings, ports: Ports) -> HubTopology:
    """Secrets under the data folder (created on first use) and the hub's settings for leaf nodes."""
    secrets = Secrets.load_or_create(settings.secrets_dir, settings.nodes)
    settings = settings.model_copy(update={"node_domains": True, "auth_tokens_file": secrets.tokens_file})
    return HubTopology(settings, secrets, ports)


async def run_hub(topology: HubTopology, host: str, port: int) -> None:
    topology.start_hub()
    system = RunningSystem()
    try:
        async with provisioned_hub(topology):
            own = ReportingSettings(node_keys_file=topology.secrets.node_keys_file, provision_streams=False)
            url = await system.serve(reporting_asgi(topology.settings, topology.reporting_url, own), host, port)
            render.console.print(f"hub NATS :{topology.ports.hub} (leaf links :{topology.ports.hub_leaf}); reporting {url}")
            await _until_interrupted()
    finally:
        await system.stop()
        await asyncio.to_thread(topology.stop)


async def run_node(topology: HubTopology, node: str, host: str, base_port: int) -> None:
    if node not in topology.settings.nodes:
        raise SystemExit(f"{node!r} is not one of the hub's nodes {topology.settings.nodes} (HUB_NODES)")
    topology.start_node(node)
    system = RunningSystem()
    try:
        for offset, service in enumerate(SERVICES, start=1):
            app = node_app(service, topology.settings, node, topology.node_services_url(node))
            url = await system.serve(app, host, base_port + offset)
            render.console.print(f"{node} {service}: {url}")
        render.console.print(f"{node} NATS leaf server :{topology.ports.node(node)} → hub leaf :{topology.ports.hub_leaf}")
        await _until_interrupted()
    finally:
        await system.stop()
        await asyncio.to_thread(topology.stop)
