"""A service started before its database exists serves HTTP, says it is not ready, and becomes
ready (migrated, relaying) once the database answers, without a restart."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from services.partners import app as partners_app
from shared.settings import HubSettings
from tests.conftest import POSTGRES_DSN, postgres_or_skip
from tests.helpers import organisation, wait_for


@pytest.mark.postgres
async def test_a_node_service_waits_for_its_database_then_recovers(
    settings: HubSettings, nats_server
) -> None:  # type: ignore[no-untyped-def]
    await postgres_or_skip()
    name = "hl_late_" + uuid.uuid4().hex[:10]  # does not exist yet: connections are refused
    base = POSTGRES_DSN.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    service = partners_app.build_service(
        settings.model_copy(update={"database_url": url}), "coventry", nats_server.url
    )
    app = partners_app.create_app(service)
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        await service.start(attach_timeout=0.5)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://p"
        ) as client:
            down = await client.get("/health/ready")
            assert down.status_code == 503 and down.json()["database"].startswith("unavailable")
            refused = await client.post("/organisations", json=organisation())
            assert refused.status_code == 503

            await admin.execute(f'CREATE DATABASE "{name}"')
            ready = await wait_for(
                lambda: client.get("/health/ready"), lambda r: r.status_code == 200, timeout=30
            )
            assert ready.status_code == 200, ready.json()
            assert (await client.post("/organisations", json=organisation())).status_code == 201
    finally:
        await service.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
