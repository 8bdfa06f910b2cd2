"""Composition root of the funding service: settings, database, outbox relay, routes, and `serve`,
its process's one entry."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.funding.api import router
from services.funding.models import metadata
from shared.node_service import NodeService, node_service_app, serve_node_service
from shared.settings import HubSettings
from shared.signing import NodeSigner
from shared.telemetry import Telemetry, service_telemetry

NAME = "funding"
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
        "Hub Ledger: funding",
        "The node's ledger: income, allocations and spend, each linked to the money it draws on.",
        [router],
    )


async def serve(
    settings: HubSettings,
    node: str,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    nats_url: str | None = None,
) -> None:
    """The funding process of `node` (`hub serve funding`, `hub node up`):
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
