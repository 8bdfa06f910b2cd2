"""Rebuilding projections from the hub stream gives exactly what live consumption gave."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from services.reporting.app import build_service, create_app
from services.reporting.ingest.consumer import MIGRATIONS
from services.reporting.ingest.rebuild import (
    bulk_load,
    deferred_indexes,
    rebuild,
    replacing_sqlite_database,
)
from services.reporting.settings import ReportingSettings
from shared.bus import connect
from shared.db import create_engine, migrate
from shared.settings import HubSettings
from tests.helpers import System, activity, income, organisation

ISSUED = re.compile(r'"issued": "[^"]*"')


def report_routes(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Every GET report route that needs no path parameter (from the OpenAPI document)."""
    return sorted(
        path
        for path, methods in app.openapi()["paths"].items()
        if "get" in methods
        and path.startswith("/report")
        and "{" not in path
        and not path.endswith(".xlsx")
    )


async def snapshot(service, paths: list[str]) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Every route's answer, plus every catalogued view for both years and as an export."""
    app = create_app(service)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://r"
    ) as client:
        out = {}
        views = (await client.get("/report/views")).json()
        paths = (
            paths
            + [f"/report/views/{name}" for name in views]
            + [f"/report/export/{name}" for name in views]
        )
        for path in paths:
            response = await client.get(
                path, params={"academic_year": "2024-25", "period": "2024-25", "format": "json"}
            )
            out[path] = (
                response.status_code,
                ISSUED.sub("", response.text),
            )  # export time is not data
        return out


@pytest.mark.parametrize(
    "workers",
    [0, 2, None],
    ids=["prepared here", "prepared in two workers", "by default: lanes where a core is spare"],
)
async def test_rebuild_from_the_stream_equals_incremental_processing(
    system: System, settings: HubSettings, workers: int | None
) -> None:
    orgs = {}
    for node in settings.nodes:
        body = organisation(f"{node} partner", areas=[node])
        orgs[node] = (await system.post(node, "partners", "/organisations", body)).json()[
            "organisation_id"
        ]
        for headcount in (12, 30):
            r = await system.post(
                node,
                "activities",
                "/activities",
                activity(orgs[node], area=node, headcount=headcount),
            )
            assert r.status_code == 201
        assert (await system.post(node, "funding", "/income", income(50_000_00))).status_code == 201
    hub_nc = await connect(system.nats_url, "test-garbage")
    await hub_nc.jetstream().publish(
        f"hl.{settings.hub}.coventry.partners.OrganisationRegistered.v1", b"not json"
    )
    await hub_nc.close()
    events = 4 * len(settings.nodes)
    live = await system.report_when(lambda r: r.stamp.applied_events >= events)
    assert live.stamp.applied_events == events

    rebuilt = build_service(
        settings,
        system.nats_url,
        ReportingSettings(database_url=f"sqlite+aiosqlite:///{settings.data_dir / 'rebuilt.db'}"),
    )
    await rebuilt.start(consume=False)
    nc = await connect(system.nats_url, "test-rebuild")
    seen: list[tuple[int, int]] = []
    result = await rebuild(
        rebuilt,
        nc,
        batch_size=5,
        workers=workers,
        progress=lambda done, total: seen.append((done, total)),
    )
    await nc.close()
    assert (result.messages, result.applied, result.refused) == (events + 1, events, 1)
    assert seen[-1] == (events + 1, events + 1)

    paths = report_routes(create_app(system.reporting))
    assert "/report" in paths and len(paths) > 5
    assert await snapshot(rebuilt, paths) == await snapshot(system.reporting, paths)
    # the indexes a rebuild defers are back, and the bulk settings went with the replay
    assert await schema(rebuilt) == await schema(system.reporting)
    async with rebuilt.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 1  # NORMAL
    with contextlib.closing(
        sqlite3.connect(str(rebuilt.engine.url.database))
    ) as plain:  # the file itself, no pragmas
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    await rebuilt.stop()


async def schema(service) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    async with service.read_sessions() as session:
        rows = await session.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")
        )
        return [tuple(r) for r in rows]


async def test_a_bulk_load_drops_exactly_the_indexes_declared_deferred(tmp_path: Path) -> None:
    """The indexes a rebuild defers are those declared DEFERRED beside their tables: one left
    undeclared is kept (slower to load, never missing), a declared name the migrations do not
    create is caught here, and every dropped index is back afterwards as it was."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    await migrate(engine, MIGRATIONS)

    async def indexes() -> dict[str, str]:
        async with engine.connect() as conn:
            listing = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            return {name: sql for name, sql in (await conn.exec_driver_sql(listing)).all()}

    try:
        before = await indexes()
        assert deferred_indexes() and deferred_indexes() <= before.keys()
        assert (
            "ix_participation_view_activity_id" in before.keys() - deferred_indexes()
        )  # withdrawing searches by it
        async with bulk_load(engine):
            during = await indexes()
        assert before.keys() - during.keys() == deferred_indexes()
        assert await indexes() == before
    finally:
        await engine.dispose()


def test_the_new_database_takes_the_place_of_the_current_one_only_when_complete(
    tmp_path: Path,
) -> None:
    """What a rebuild killed earlier left is cleared; a failed build leaves the current database;
    a complete one replaces it, and the current one is kept beside it."""
    database = tmp_path / "hub" / "reporting.db"
    database.parent.mkdir()
    database.write_bytes(b"current")
    Path(f"{database}.rebuilding").write_bytes(b"half-built, killed")
    Path(f"{database}.rebuilding-wal").write_bytes(b"its log")
    with pytest.raises(RuntimeError), replacing_sqlite_database(database) as building:
        assert not building.exists() and not Path(f"{building}-wal").exists()
        building.write_bytes(b"partial")
        raise RuntimeError("the replay failed")
    assert (
        sorted(p.name for p in database.parent.iterdir()) == ["reporting.db"]
        and database.read_bytes() == b"current"
    )
    with replacing_sqlite_database(database) as building:
        building.write_bytes(b"rebuilt")
    [kept] = database.parent.glob("reporting.db.before-rebuild-*")
    assert (database.read_bytes(), kept.read_bytes()) == (b"rebuilt", b"current")
    assert not list(database.parent.glob("*.rebuilding*"))
