"""Degraded dependencies: services start without NATS and recover without a restart; a locked
database fails a request with a 503 and a reason, and nothing is half-written."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from services.partners import app as partners_app
from services.reporting import app as reporting_app
from shared.nats_server import NatsServer, free_port
from shared.settings import HubSettings
from tests.helpers import organisation, wait_for


def _client(app) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def _ready(client: httpx.AsyncClient) -> int:
    return (await client.get("/health/ready")).status_code


async def test_node_service_starts_without_nats_accepts_writes_and_relays_once_nats_answers(
    tmp_path: Path, hub_id: str
) -> None:
    port = free_port()
    settings = HubSettings(
        hub=hub_id, data_dir=tmp_path, nodes=["coventry"], duplicate_window_seconds=600
    )
    service = partners_app.build_service(settings, "coventry", f"nats://127.0.0.1:{port}")
    await service.start(attach_timeout=0.5)  # returns although nothing listens on the port
    server = None
    try:
        async with _client(partners_app.create_app(service)) as client:
            response = await client.get("/health/ready")
            assert response.status_code == 503 and response.json()["nats"] == "unavailable"
            assert (
                await client.post("/organisations", json=organisation("Written offline"))
            ).status_code == 201

            server = NatsServer(tmp_path / "nats", port=port).start()
            assert await wait_for(lambda: _ready(client), lambda s: s == 200, timeout=20) == 200
            assert service.relay is not None
            assert await wait_for(service.relay.backlog, lambda b: b == 0) == 0
            info = await service.nats.jetstream().stream_info(f"HL_{hub_id.upper()}_COVENTRY")  # type: ignore[union-attr]
            assert info.state.messages == 1
    finally:
        await service.stop()
        if server is not None:
            server.stop()


async def test_reporting_starts_without_nats_and_becomes_ready_without_a_restart(
    tmp_path: Path, hub_id: str
) -> None:
    port = free_port()
    settings = HubSettings(
        hub=hub_id, data_dir=tmp_path, nodes=["coventry"], duplicate_window_seconds=600
    )
    service = reporting_app.build_service(settings, f"nats://127.0.0.1:{port}")
    await service.start(attach_timeout=0.5)
    server = None
    try:
        async with _client(reporting_app.create_app(service)) as client:
            assert await _ready(client) == 503
            server = NatsServer(tmp_path / "nats", port=port).start()
            assert await wait_for(lambda: _ready(client), lambda s: s == 200, timeout=20) == 200
    finally:
        await service.stop()
        if server is not None:
            server.stop()


async def test_a_locked_database_gets_a_503_with_a_reason_and_changes_nothing(
    tmp_path: Path, hub_id: str, nats_server: NatsServer
) -> None:
    settings = HubSettings(
        hub=hub_id, data_dir=tmp_path, nodes=["coventry"], duplicate_window_seconds=600
    )
    service = partners_app.build_service(settings, "coventry", nats_server.url)
    await service.start()
    try:
        async with _client(partners_app.create_app(service)) as client:
            assert (
                await client.post("/organisations", json=organisation("Before the lock"))
            ).status_code == 201
            db = Path(settings.node_database_url("coventry", "partners").split("///", 1)[1])
            locker = sqlite3.connect(db, isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")
            try:
                response = await client.post("/organisations", json=organisation("While locked"))
            finally:
                locker.execute("ROLLBACK")
                locker.close()
            assert response.status_code == 503, response.text
            assert "locked" in response.json()["reason"]
            assert (
                await client.post("/organisations", json=organisation("After the lock"))
            ).status_code == 201
        with sqlite3.connect(db) as check:
            names = [r[0] for r in check.execute("SELECT name FROM organisation ORDER BY name")]
            outbox = check.execute("SELECT count(*), max(sequence) FROM outbox").fetchone()
        assert names == ["After the lock", "Before the lock"]
        assert outbox == (2, 2)  # no gap, no orphan event
    finally:
        await service.stop()


async def test_a_full_disk_gets_a_503_with_a_reason_and_changes_nothing(
    tmp_path: Path, hub_id: str, nats_server: NatsServer
) -> None:
    """SQLite's page limit makes the database file full exactly as a full disk does (SQLITE_FULL),
    without filling the machine's disk: the write is refused whole and the service carries on."""
    settings = HubSettings(
        hub=hub_id, data_dir=tmp_path, nodes=["coventry"], duplicate_window_seconds=600
    )
    service = partners_app.build_service(settings, "coventry", nats_server.url)
    await service.start()
    limit: list[int] = []

    @event.listens_for(service.engine.sync_engine, "connect")
    def _cap(dbapi_conn: Any, _record: Any) -> None:
        if limit:
            dbapi_conn.execute(f"PRAGMA max_page_count = {limit[0]}")

    try:
        async with _client(partners_app.create_app(service)) as client:
            assert (
                await client.post("/organisations", json=organisation("Before the disk filled"))
            ).status_code == 201
            db = Path(settings.node_database_url("coventry", "partners").split("///", 1)[1])
            with sqlite3.connect(db) as probe:
                limit.append(probe.execute("PRAGMA page_count").fetchone()[0])
            await service.engine.dispose()  # new connections carry the cap
            for attempt in range(500):  # the pages still free fill first
                full = await client.post(
                    "/organisations", json=organisation(f"While the disk fills {attempt:03} " * 8)
                )
                if full.status_code != 201:
                    break
            assert full.status_code == 503, full.text
            assert "full" in full.json()["reason"]
            assert (
                await client.post("/organisations", json=organisation("x" * 200))
            ).status_code == 503

            limit.clear()
            await service.engine.dispose()
            assert (
                await client.post("/organisations", json=organisation("After space was freed"))
            ).status_code == 201
        with sqlite3.connect(db) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            organisations = check.execute("SELECT count(*) FROM organisation").fetchone()[0]
            outbox = check.execute("SELECT count(*), max(sequence) FROM outbox").fetchone()
        assert outbox == (
            organisations,
            organisations,
        )  # every stored write has its event, no gap, no orphan
    finally:
        await service.stop()


async def test_readiness_fails_when_the_services_tables_cannot_be_read_and_the_relay_keeps_failing(
    tmp_path: Path, hub_id: str, nats_server: NatsServer
) -> None:
    """A review saw ready: true while every request got 503 from a malformed database and the relay
    had failed 72 times: SELECT 1 reads no table. Readiness reads the outbox, and says not ready
    once the relay has failed several times in a row."""
    settings = HubSettings(
        hub=hub_id, data_dir=tmp_path, nodes=["coventry"], duplicate_window_seconds=600
    )
    service = partners_app.build_service(settings, "coventry", nats_server.url)
    await service.start()
    db = Path(settings.node_database_url("coventry", "partners").split("///", 1)[1])
    try:
        async with _client(partners_app.create_app(service)) as client:
            first = await wait_for(lambda: _ready(client), lambda s: s == 200, timeout=20)
            assert first == 200 and (await client.get("/health/ready")).json()["relay"] == "ok"
            with sqlite3.connect(db) as breaker:  # the outbox cannot be read
                breaker.execute("ALTER TABLE outbox RENAME TO outbox_gone")
            service.relay.wake()  # type: ignore[union-attr]
            down = await client.get("/health/ready")
            assert down.status_code == 503 and "no such table" in down.json()["database"]
            failing = await wait_for(
                lambda: client.get("/health/ready"),
                lambda r: r.json()["relay"].startswith("failing (5 attempts)"),
                timeout=30,
            )
            assert "no such table" in failing.json()["relay"]
            with sqlite3.connect(db) as mender:
                mender.execute("ALTER TABLE outbox_gone RENAME TO outbox")
            service.relay.wake()  # type: ignore[union-attr]
            up = await wait_for(
                lambda: client.get("/health/ready"), lambda r: r.status_code == 200, timeout=30
            )
            assert up.json()["relay"] == "ok" and up.json()["database"] == "ok"
    finally:
        await service.stop()
