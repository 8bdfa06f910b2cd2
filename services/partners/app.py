"""Composition root of the partners service: settings, database, outbox relay, routes, and `serve`,
its process's one entry."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.partners.api import agreements, population, router, settings
from services.partners.models import metadata
from shared.node_service import NodeService, node_service_app, serve_node_service
from shared.settings import HubSettings
from shared.signing import NodeSigner
from shared.telemetry import Telemetry, service_telemetry

NAME = "partners"
MIGRATIONS = Path(__file__).parent / "migrations"


def build_service(
    settings: HubSettings,
    node: str,
    nats_url: str,
    signer: NodeSigner | None = None,
    telemetry: Telemetry | None = None,
) -> NodeService:
    """The service of `node`, its spans and metrics its own unless `telemetry` is given."""
    telemetry = telemetry or service_telemetry(settings, NAME, node)
    return NodeService(settings, node, NAME, metadata, MIGRATIONS, nats_url, signer, telemetry)


def create_app(service: NodeService) -> FastAPI:
    return node_service_app(
        service,
        "Hub Ledger: partners",
        "The node's register of organisations: partners, settings, funders and lead "
        "organisations; its area's school population.",
        [router, agreements, settings, population],
    )


async def serve(
    settings: HubSettings,
    node: str,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    nats_url: str | None = None,
) -> None:
    """The partners process of `node` (`hub serve partners`, `hub node up`):
    shared/node_service.py."""
    await serve_node_service(
        settings,
        NAME,
        node,
        lambda url: create_app(build_service(settings, node, url)),
        host=host,
        port=port,
        nats_url=nats_url,
    )
