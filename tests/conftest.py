"""Fixtures shared by every test: a real nats-server, per-test hubs and databases,
a running system."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

import services.reporting.ingest.consumer
import shared.db
import shared.node_service
from harness.browser import chromium_path
from services.partners import app as partners_app
from shared.nats_server import NatsServer
from shared.node_service import NodeService
from shared.settings import HubSettings
from tests.helpers import System
from tests.migrated import MigratedTemplates

POSTGRES_DSN = os.environ.get("HUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("HUB_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One real nats-server (from the venv) on a free loopback port for the whole run."""
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    """Services started in this process begin a fresh SQLite database as a copy of their schema,
    migrated once per run by the real scripts (tests/migrated.py)."""
    templates = MigratedTemplates(tmp_path_factory.mktemp("migrated"), shared.db.migrate)
    with pytest.MonkeyPatch.context() as patch:
        for module in (shared.db, shared.node_service, services.reporting.ingest.consumer):
            patch.setattr(module, "migrate", templates.migrate)
        yield templates


@pytest.fixture
def hub_id() -> str:
    """A fresh hub per test, so its streams never meet another test's on the shared server."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def settings(tmp_path: Path, hub_id: str) -> HubSettings:
    return HubSettings(
        hub=hub_id, data_dir=tmp_path, nodes=["coventry", "solihull"], duplicate_window_seconds=600
    )


async def _postgres_reachable() -> bool:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(POSTGRES_DSN), 3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def postgres_or_skip() -> None:
    """Go on only where PostgreSQL answers: skipped on a machine without it, failed where CI
    requires it (HUB_REQUIRE_POSTGRES=1)."""
    if not await _postgres_reachable():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required but not reachable at {POSTGRES_DSN}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_DSN}")


@contextlib.asynccontextmanager
async def fresh_database(kind: str, file: Path, options: str = "") -> AsyncIterator[str]:
    """An empty database of `kind`: the SQLite `file`, or a new PostgreSQL database (CREATE
    DATABASE's `options`, such as a collation) when one answers, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{file}"
        return
    await postgres_or_skip()
    name = "hl_" + uuid.uuid4().hex[:12]
    admin = await asyncpg.connect(POSTGRES_DSN)
    await admin.execute(f'CREATE DATABASE "{name}" {options}')
    try:
        base = POSTGRES_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL database when one answers."""
    async with fresh_database(request.param, tmp_path / "store.db") as url:
        yield url


@pytest.fixture
async def partners(settings: HubSettings, database_url: str) -> AsyncIterator[NodeService]:
    """Coventry's partners service on each test database, not relaying (two test modules use it)."""
    service = partners_app.build_service(
        settings.model_copy(update={"database_url": database_url}), "coventry", ""
    )
    await service.start(relay=False)
    yield service
    await service.stop()


@pytest.fixture
async def system(settings: HubSettings, nats_server: NatsServer) -> AsyncIterator[System]:
    """Reporting plus every node service of `settings`, running against the real nats-server."""
    running = System(settings, nats_server.url)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="session")
def spans():  # type: ignore[no-untyped-def]
    """Every span this process finishes, collected in memory (the tracer provider is set once)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from shared.telemetry import configure_tracing

    exporter = InMemorySpanExporter()
    configure_tracing(HubSettings(telemetry="none"), "tests", extra=SimpleSpanProcessor(exporter))
    return exporter


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Every test marked `browser` needs chromium: skipped without it, failed instead where
    HUB_REQUIRE_BROWSER=1 (CI, after `make browser`), so a new browser test cannot forget it."""
    if item.get_closest_marker("browser") is None or chromium_path() is not None:
        return
    if os.environ.get("HUB_REQUIRE_BROWSER") == "1":
        pytest.fail(
            "chromium required (HUB_REQUIRE_BROWSER=1) but not installed: run `make browser`"
        )
    pytest.skip("chromium not installed (make browser)")
