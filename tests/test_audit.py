"""Audit verification: a clean reporting database verifies; an edited applied event or projection
row in a copy of it is found, offline where the chain covers it, against the hub stream
otherwise."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import nats

from hub.commands.report import with_session
from services.reporting.app import create_app
from services.reporting.ingest.audit import AuditResult, stream_fetcher, verify
from shared.pseudonym import make_upn
from shared.subjects import hub_stream
from tests.helpers import System, activity, income, organisation

DELIVERER = "01a2011f-0000-7000-8000-000000000007"


async def populate(system: System) -> str:
    assert (
        await system.post("coventry", "partners", "/organisations", organisation())
    ).status_code == 201
    r = await system.post("coventry", "activities", "/activities", activity(DELIVERER))
    activity_id = r.json()["activity_id"]
    pupils = [{"upn": make_upn("331369024071"), "year_group": "4", "home_area": "coventry"}]
    assert (
        await system.post(
            "coventry", "activities", f"/activities/{activity_id}/participants", {"pupils": pupils}
        )
    ).status_code == 201
    assert (await system.post("solihull", "funding", "/income", income(500_00))).status_code == 201
    await system.report_when(lambda r: r.stamp.applied_events >= 4)
    return activity_id


def copy_of(system: System, tmp_path: Path, name: str) -> Path:
    """What an auditor receives: a consistent copy of the live database (WAL included)."""
    target = tmp_path / f"{name}.db"
    with (
        sqlite3.connect(system.settings.data_dir / "hub" / "reporting.db") as live,
        sqlite3.connect(target) as copy,
    ):
        live.backup(copy)
    return target


def tamper(db: Path, sql: str) -> None:
    """Run one edit on one row, and make sure it really changed something (an update can match a row
    and leave it as it was)."""
    with sqlite3.connect(db) as conn:
        before = list(conn.iterdump())
        assert conn.execute(sql).rowcount == 1
        assert list(conn.iterdump()) != before, f"the edit changed nothing: {sql}"


async def audit(db: Path, nats_url: str | None = None, hub: str = "") -> AuditResult:
    url = f"sqlite+aiosqlite:///{db}"
    if nats_url is None:
        return await with_session(url, verify)
    nc = await nats.connect(nats_url)
    try:
        fetch = stream_fetcher(nc.jetstream(), hub_stream(hub))
        return await with_session(url, lambda s: verify(s, fetch))
    finally:
        await nc.close()


def cli_verify(
    db: Path, *extra: str, hub: str = "heart-of-england"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "audit", "verify", "--database", str(db), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HUB_HUB": hub},
    )


async def test_a_clean_database_verifies_offline_and_against_the_stream(
    system: System, tmp_path: Path
) -> None:
    await populate(system)
    clean = copy_of(system, tmp_path, "clean")
    offline = await audit(clean)
    assert (
        offline.ok
        and offline.applied_events == 4
        and offline.chain_head == offline.stored_chain_head
    )
    online = await audit(clean, system.nats_url, system.settings.hub)
    assert online.ok and online.stream_checked, online.problems
    done = cli_verify(clean)
    assert (
        done.returncode == 0 and "4 applied events" in done.stdout and "verified" in done.stdout
    ), done.stdout + done.stderr
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(system.reporting)), base_url="http://r"
    ) as client:
        served = (await client.get("/report/audit")).json()
    assert served["ok"] and served["chain_head"] == offline.chain_head


async def test_an_edited_digest_or_removed_event_breaks_the_chain_offline(
    system: System, tmp_path: Path
) -> None:
    await populate(system)
    edited = copy_of(system, tmp_path, "edited")
    tamper(
        edited,
        "update applied_event set digest = "
        "(case substr(digest, 1, 1) when '0' then '1' else '0' end) || substr(digest, 2) "
        "where position = 2",
    )
    found = await audit(edited)
    assert not found.ok and [(p.check, p.position) for p in found.problems] == [("chain", 2)]
    shown = cli_verify(edited)
    assert shown.returncode == 1 and "1 problem(s)" in shown.stdout, shown.stdout + shown.stderr

    removed = copy_of(system, tmp_path, "removed")
    tamper(removed, "delete from applied_event where position = 3")
    checks = {p.check for p in (await audit(removed)).problems}
    assert {"position", "chain", "count"} <= checks


async def test_edited_stored_columns_and_projection_rows_are_found_against_the_stream(
    system: System, tmp_path: Path
) -> None:
    activity_id = await populate(system)
    retyped = copy_of(system, tmp_path, "retyped")
    tamper(
        retyped, "update applied_event set node = 'solihull' where event_type = 'ActivityDelivered'"
    )
    assert (await audit(retyped)).ok, "node is outside the chain: only the stream can show the edit"
    problems = (await audit(retyped, system.nats_url, system.settings.hub)).problems
    assert [(p.check, p.detail) for p in problems] == [
        ("stored event", "applied_event.node is 'solihull', the event says 'coventry'")
    ]

    inflated = copy_of(system, tmp_path, "inflated")
    tamper(
        inflated, f"update activity_view set headcount = 280 where activity_id = '{activity_id}'"
    )
    assert (await audit(inflated)).ok
    problems = (await audit(inflated, system.nats_url, system.settings.hub)).problems
    assert {p.check for p in problems} == {"projection"} and len(
        problems
    ) == 2  # the altered row, and the missing true one
    assert any("280" in p.detail for p in problems)
    shown = cli_verify(
        inflated, "--stream", "--nats-url", system.nats_url, "--json", hub=system.settings.hub
    )
    assert shown.returncode == 1 and '"check": "projection"' in shown.stdout, (
        shown.stdout + shown.stderr
    )

    orphan = copy_of(system, tmp_path, "orphan")
    tamper(
        orphan, "update funding_entry_view set event_id = '00000000-0000-0000-0000-000000000000'"
    )
    assert [p.check for p in (await audit(orphan)).problems] == ["projection reference"]
