"""Composition root of the reporting service: wires the consumer (ingest/), the HTTP routes (http/)
and the dashboard (dashboard/) into one app. Nothing imports this module but the process wiring."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.middleware import Middleware

from services.reporting.dashboard import mount_dashboard
from services.reporting.dashboard.routes import warm_pages
from services.reporting.http.report import router
from services.reporting.ingest.consumer import ReportingService
from services.reporting.models import metadata  # noqa: F401  (alembic target)
from services.reporting.read import versioned
from services.reporting.settings import NAME, ReportingSettings
from shared.asyncapi import asyncapi_document, event_services
from shared.auth import require_declared
from shared.node_service import create_http_app, serve_http
from shared.settings import HubSettings
from shared.telemetry import Telemetry, configure_process, service_telemetry

__all__ = ["ReportingService", "build_service", "create_app", "serve"]


def build_service(
    settings: HubSettings,
    nats_url: str,
    own: ReportingSettings | None = None,
    telemetry: Telemetry | None = None,
) -> ReportingService:
    """Reporting, its spans and metrics its own unless `telemetry` is given."""
    return ReportingService(
        settings,
        own or ReportingSettings(),
        nats_url,
        warm_also=(warm_pages,),
        telemetry=telemetry or service_telemetry(settings, NAME),
    )


def create_app(service: ReportingService) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = create_http_app(
        "Hub Ledger: reporting",
        "Hub-wide accountability and funding views built from every node's events.",
        [router],
        lifespan,
        service.settings,
        None,
        asyncapi_document("Hub Ledger: reporting: events", receives=event_services()),
        telemetry=service.telemetry,
    )
    app.state.reporting = service
    app.state.readiness = service.readiness
    mount_dashboard(app, service)
    app.user_middleware.append(
        Middleware(versioned.ResponsesPerVersion, sessions=service.read_sessions)
    )  # innermost
    return require_declared(app)  # a route without a declared access scope never serves


async def serve(
    settings: HubSettings,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    nats_url: str | None = None,
    own: ReportingSettings | None = None,
) -> None:
    """The reporting process, however it is started (`hub serve reporting`, `hub hub up`): its
    logging and tracing (``service.name`` hub-ledger-reporting), its app, served on its port
    (``HUB_REPORTING_PORT``) until SIGINT or SIGTERM."""
    configure_process(settings, NAME)
    url = nats_url or settings.nats_servers
    await serve_http(
        lambda: create_app(build_service(settings, url, own)),
        host,
        port or settings.service_port(NAME),
    )
