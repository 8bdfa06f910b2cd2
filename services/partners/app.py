"""Composition root of the partners service: settings, database, outbox relay, routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shared.node_service import NodeService, node_service_app
from shared.settings import HubSettings
from shared.signing import NodeSigner
from services.partners.api import agreements, population, router, settings
from services.partners.models import metadata

NAME = "partners"
MIGRATIONS = Path(__file__).parent / "migrations"


def build_service(settings: HubSettings, node: str, nats_url: str, signer: NodeSigner | None = None) -> NodeService:
    return NodeService(settings, node, NAME, metadata, MIGRATIONS, nats_url, signer)


def create_app(service: NodeService) -> FastAPI:
    return node_service_app(
        service,
        "Hub Ledger: partners",
        "The node's register of organisations: partners, settings, funders and lead organisations; its area's school population.",
        [router, agreements, settings, population],
    )
