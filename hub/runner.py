"""Start services in this process: one uvicorn server per service, each with its own database,
NATS connection and relay, exactly as they would run apart (``hub serve``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from hub.locate import record_services
from services.activities import app as activities_app
from services.funding import app as funding_app
from services.partners import app as partners_app
from services.reporting import app as reporting_app
from services.reporting.settings import ReportingSettings
from shared.identity import SERVICES
from shared.nats_server import free_port
from shared.processes import Stopping, port_is_free, require_free
from shared.settings import HubSettings
from shared.signing import NodeSigner
from shared.telemetry import Telemetry, service_telemetry

NODE_SERVICES = {"partners": partners_app, "activities": activities_app, "funding": funding_app}


def node_app(
    service: str,
    settings: HubSettings,
    node: str,
    nats_url: str,
    signer: NodeSigner | None = None,
    telemetry: Telemetry | None = None,
) -> FastAPI:
    module = NODE_SERVICES[service]
    app: FastAPI = module.create_app(
        module.build_service(settings, node, nats_url, signer, telemetry)
    )
    return app


def reporting_asgi(
    settings: HubSettings, nats_url: str, own: ReportingSettings | None = None
) -> FastAPI:
    return reporting_app.create_app(reporting_app.build_service(settings, nats_url, own))


def port_or_free(port: int, host: str = "127.0.0.1") -> int:
    """`port`, or a free one when it is taken (tests and benchmarks on ports picked at random)."""
    return port if port_is_free(port, host) else free_port(host)


def system_ports(settings: HubSettings, base_port: int) -> dict[int, tuple[str, str | None]]:
    """Every HTTP port `start_system` listens on from `base_port`, with what listens there and the
    option that moves them all (`hub demo --base-port`)."""
    ports = settings.with_base_port(base_port)
    found: dict[int, tuple[str, str | None]] = {
        ports.service_port("reporting"): ("reporting", "--base-port")
    }
    for node in settings.nodes:
        for service in SERVICES:
            found[ports.service_port(service, node)] = (f"{node} {service}", "--base-port")
    return found


class InProcessServer(uvicorn.Server):
    """One of several servers in this process: the signals are the process's ``Stopping``'s
    (uvicorn's own handlers would replace it, and re-raise the signal when the server ends)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningSystem:
    """Every service of a hub running in this process; URLs by (node, service) and for reporting."""

    urls: dict[tuple[str, str], str] = field(default_factory=dict)
    reporting_url: str = ""
    reporting_service: reporting_app.ReportingService | None = None
    _servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = field(default_factory=list)

    async def serve(self, app: FastAPI, host: str, port: int) -> str:
        server = InProcessServer(
            uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        )
        task = asyncio.create_task(server.serve())
        self._servers.append(
            (server, task)
        )  # stopped with the others if a stop comes while it starts
        while not server.started:
            if task.done():
                task.result()  # raises the startup error
                raise RuntimeError(f"server on port {port} stopped during startup")
            await asyncio.sleep(0.02)
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
    move_taken_ports: bool = False,
) -> RunningSystem:
    """Reporting first (it declares the hub streams), then every service of every node, each on
    its port counted from `base_port` (`HubSettings.service_port`). A port already taken is
    ``PortInUse`` before anything starts, or with `move_taken_ports` (tests, benchmarks) a free
    one. Each traces and counts under its own name, as it would in a process of its own."""
    if not move_taken_ports:
        require_free(host, system_ports(settings, base_port))

    def port(wanted: int) -> int:
        return port_or_free(wanted, host) if move_taken_ports else wanted

    system = RunningSystem()
    ports = settings.with_base_port(base_port)
    system.reporting_service = reporting_app.build_service(
        settings,
        wiring.reporting_nats_url,
        wiring.reporting,
        service_telemetry(settings, "reporting", own_traces=True),
    )
    reporting = reporting_app.create_app(system.reporting_service)
    system.reporting_url = await system.serve(
        reporting, host, port(ports.service_port("reporting"))
    )
    for node in settings.nodes:
        for service in SERVICES:
            app = node_app(
                service,
                settings,
                node,
                wiring.node_nats_urls[node],
                wiring.signers.get(node),
                service_telemetry(settings, service, node, own_traces=True),
            )
            at = port(ports.service_port(service, node))
            if service == "activities":  # partners started first, perhaps on a free port
                activities_app.use_partners_at(app, system.urls[(node, "partners")])
            system.urls[(node, service)] = await system.serve(app, host, at)
    _link_returns_pages(system, settings.nodes)
    record_services(settings.data_dir, system.urls)
    return system


def _link_returns_pages(system: RunningSystem, nodes: list[str]) -> None:
    """The dashboard links node staff to their node's returns page, wherever it started."""
    assert system.reporting_service is not None
    own = system.reporting_service.own
    urls = {n: f"{system.urls[(n, 'activities')]}/staff/returns" for n in nodes}
    update = {"node_returns_urls": urls | own.node_returns_urls}
    system.reporting_service.own = own.model_copy(update=update)


async def until_interrupted() -> None:
    """Return on SIGINT or SIGTERM (Ctrl-C, systemd's stop): the process's ``Stopping``."""
    await Stopping.current().wait()
