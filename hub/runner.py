"""Start services in this process: one uvicorn server per service, each with its own database,
NATS connection and relay, exactly as they would run apart (``hub serve``)."""

from __future__ import annotations

import asyncio
import signal
import socket
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from services.activities import app as activities_app
from services.funding import app as funding_app
from services.partners import app as partners_app
from services.reporting import app as reporting_app
from services.reporting.settings import ReportingSettings
from shared.identity import SERVICES
from shared.nats_server import free_port
from shared.settings import HubSettings
from shared.signing import NodeSigner

NODE_SERVICES = {"partners": partners_app, "activities": activities_app, "funding": funding_app}


def node_app(
    service: str, settings: HubSettings, node: str, nats_url: str, signer: NodeSigner | None = None
) -> FastAPI:
    module = NODE_SERVICES[service]
    return module.create_app(module.build_service(settings, node, nats_url, signer))


def reporting_asgi(
    settings: HubSettings, nats_url: str, own: ReportingSettings | None = None
) -> FastAPI:
    return reporting_app.create_app(reporting_app.build_service(settings, nats_url, own))


def port_or_free(port: int, host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return free_port(host)
    return port


@dataclass
class RunningSystem:
    """Every service of a hub running in this process; URLs by (node, service) and for reporting."""

    urls: dict[tuple[str, str], str] = field(default_factory=dict)
    reporting_url: str = ""
    reporting_service: reporting_app.ReportingService | None = None
    _servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = field(default_factory=list)

    async def serve(self, app: FastAPI, host: str, port: int) -> str:
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        )
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()  # raises the startup error
                raise RuntimeError(f"server on port {port} stopped during startup")
            await asyncio.sleep(0.02)
        self._servers.append((server, task))
        return f"http://{host}:{port}"

    async def stop(self) -> None:
        for server, _ in reversed(self._servers):
            server.should_exit = True
        await asyncio.gather(*(task for _, task in self._servers), return_exceptions=True)
        self._servers.clear()


@dataclass(frozen=True)
class Wiring:
    """Which NATS URL each party uses, and what it signs or verifies with."""

    reporting_nats_url: str
    node_nats_urls: dict[str, str]
    signers: dict[str, NodeSigner] = field(default_factory=dict)
    reporting: ReportingSettings | None = None

    @classmethod
    def single_server(cls, nats_url: str, nodes: list[str]) -> Wiring:
        return cls(nats_url, {node: nats_url for node in nodes})


async def start_system(
    settings: HubSettings,
    wiring: Wiring,
    *,
    base_port: int = 8100,
    host: str = "127.0.0.1",
) -> RunningSystem:
    """Reporting first (it declares the hub streams), then every service of every node, each on
    its port counted from `base_port` (`HubSettings.service_port`), or a free one if that is
    taken."""
    system = RunningSystem()
    ports = settings.with_base_port(base_port)
    system.reporting_service = reporting_app.build_service(
        settings, wiring.reporting_nats_url, wiring.reporting
    )
    reporting = reporting_app.create_app(system.reporting_service)
    system.reporting_url = await system.serve(
        reporting, host, port_or_free(ports.service_port("reporting"), host)
    )
    for node in settings.nodes:
        for service in SERVICES:
            port = port_or_free(ports.service_port(service, node), host)
            app = node_app(
                service, settings, node, wiring.node_nats_urls[node], wiring.signers.get(node)
            )
            if service == "activities":  # partners started first, perhaps on a free port
                activities_app.use_partners_at(app, system.urls[(node, "partners")])
            system.urls[(node, service)] = await system.serve(app, host, port)
    _link_returns_pages(system, settings.nodes)
    return system


def _link_returns_pages(system: RunningSystem, nodes: list[str]) -> None:
    """The dashboard links node staff to their node's returns page, wherever it started."""
    assert system.reporting_service is not None
    own = system.reporting_service.own
    urls = {n: f"{system.urls[(n, 'activities')]}/staff/returns" for n in nodes}
    update = {"node_returns_urls": urls | own.node_returns_urls}
    system.reporting_service.own = own.model_copy(update=update)


async def until_interrupted() -> None:
    """Return on SIGINT or SIGTERM (Ctrl-C, systemd's stop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
