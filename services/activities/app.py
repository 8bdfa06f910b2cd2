"""Composition root of the activities service: settings, database, outbox relay, routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shared.node_service import NodeService, node_service_app
from shared.settings import HubSettings
from shared.signing import NodeSigner
from services.activities.api import router
from services.activities.models import metadata

NAME = "activities"
MIGRATIONS = Path(__file__).parent / "migrations"


def build_service(settings: HubSettings, node: str, nats_url: str, signer: NodeSigner | None = None) -> NodeService:
    return NodeService(settings, node, NAME, metadata, MIGRATIONS, nats_url, signer)


def create_app(service: NodeService) -> FastAPI:
    return node_service_app(
        service,
        "Hub Ledger: activities",
        "What the node and its partners delivered, where, when and to how many.",
        [router],
    )
