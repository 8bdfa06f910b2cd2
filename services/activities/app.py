"""Composition root of the activities service: settings, database, outbox relay, routes, and
`serve`, its process's one entry."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.activities.api import returns_router, router
from services.activities.models import metadata
from services.activities.pages import STATIC, partner_router, staff_router
from services.activities.register import SettingsRegister, settings_register
from services.activities.settings import ActivitiesSettings
from shared.node_service import NodeService, node_service_app, serve_node_service
from shared.pseudonym import Pseudonymiser, load_pseudonymiser
from shared.settings import HubSettings
from shared.signing import NodeSigner
from shared.telemetry import Telemetry, service_telemetry

NAME = "activities"
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


def pseudonymiser_for(settings: HubSettings) -> Pseudonymiser:
    """The hub-wide pupil pseudonym key, from settings, a key file or the data folder's demo key."""
    return load_pseudonymiser(settings, ActivitiesSettings().pseudonym_key_file)


def create_app(service: NodeService) -> FastAPI:
    app = node_service_app(
        service,
        "Hub Ledger: activities",
        "What the node and its partners delivered, where, when, to whom, and corrections to it.",
        [router, returns_router],
        [partner_router, staff_router],
    )
    app.state.pseudonymiser = pseudonymiser_for(service.settings)
    app.state.activities_settings = ActivitiesSettings()
    app.state.staff_sessions = {}
    app.state.settings_register = settings_register(
        service.settings, app.state.activities_settings, service.node
    )
    app.mount("/assets", StaticFiles(directory=STATIC), name="assets")
    return app


def use_partners_at(
    app: FastAPI, url: str, transport: httpx.AsyncBaseTransport | None = None
) -> None:
    """Ask the node's partners service at `url` for its settings register (the demo starts it on
    whatever port is free; the tests reach its app in-process)."""
    register: SettingsRegister = app.state.settings_register
    app.state.settings_register = register.at(url, transport)


async def serve(
    settings: HubSettings,
    node: str,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    nats_url: str | None = None,
) -> None:
    """The activities process of `node` (`hub serve activities`, `hub node up`):
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
