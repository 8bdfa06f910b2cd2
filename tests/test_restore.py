"""Backup, restore and rebuild that lose nothing (deploy/RUNBOOK.md), on the deployed layout: a hub
nats-server and a leaf nats-server per node, rendered from deploy/nats with generated secrets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import shutil
import sqlite3
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.demo import leaf_wiring, provisioned_hub
from hub.runner import NODE_SERVICES
from hub.topology import HubTopology, Ports, Secrets
from services.reporting.app import build_service
from services.reporting.ingest.position import DatabaseAheadOfStream
from services.reporting.ingest.rebuild import rebuild
from services.reporting.settings import ReportingSettings
from shared.bus import connect
from shared.envelope import Envelope
from shared.identity import SERVICES
from shared.settings import HubSettings
from shared.signing import NodeSigner
from tests.helpers import System, income, organisation, wait_for

NODES = ["coventry", "solihull"]


class Deployment:
    """A running hub and its nodes, as `hub hub up` and `hub node up` lay them out."""

    def __init__(self, topology: HubTopology, system: System) -> None:
        self.topology, self.system = topology, system

    @property
    def settings(self) -> HubSettings:
        return self.topology.settings

    def reporting_db(self) -> Path:
        return self.settings.data_dir / "hub" / "reporting.db"

    def node_files(self, node: str) -> list[Path]:
        """A node's databases (SQLite) and its nats-server's store,
        as `hub node up` lays them out."""
        return [self.settings.data_dir / node / f"{s}.db" for s in SERVICES] + [
            self.topology.folder / node
        ]

    async def stop_node(self, node: str) -> None:
        for service in SERVICES:
            await self.system.services[(node, service)].stop()
        self.topology.node_servers[node].stop()

    async def start_node(self, node: str) -> None:
        """Start the node's nats-server and services again, as `hub node up` would."""
        self.topology.start_node(node)
        await self.start_node_services(node)

    async def restart_node_services(self, node: str) -> None:
        for service in SERVICES:
            await self.system.services[(node, service)].stop()
        await self.start_node_services(node)

    async def start_node_services(self, node: str, services: Sequence[str] = SERVICES) -> None:
        for service in services:
            module = NODE_SERVICES[service]
            fresh = module.build_service(
                self.settings,
                node,
                self.system.wiring.node_nats_urls[node],
                self.system.wiring.signers.get(node),
            )
            self.system.services[(node, service)] = fresh
            self.system._apps[(node, service)] = module.create_app(fresh)
            await fresh.start()

    async def restart_reporting(self) -> None:
        """Stop reporting and start a new one on the same settings
        (the database may have changed)."""
        await self.system.reporting.stop()
        self.system.reporting = build_service(
            self.settings, self.topology.reporting_url, self.system.wiring.reporting
        )
        await self.system.reporting.start()


@pytest.fixture
async def deployment(tmp_path: Path, hub_id: str) -> AsyncIterator[Deployment]:
    secrets = Secrets.load_or_create(tmp_path / "secrets", NODES)
    settings = HubSettings(
        hub=hub_id,
        data_dir=tmp_path,
        nodes=NODES,
        node_domains=True,
        auth_tokens_file=secrets.tokens_file,
        duplicate_window_seconds=600,
    )
    topology = HubTopology(settings, secrets, Ports()).start()
    tokens = {node: secrets.token(f"{node}-staff") for node in NODES}
    system = System(settings, topology.reporting_url, wiring=leaf_wiring(topology), tokens=tokens)
    try:
        async with running(topology, system) as deployment:
            yield deployment
    finally:
        topology.stop()


@contextlib.asynccontextmanager
async def running(topology: HubTopology, system: System) -> AsyncIterator[Deployment]:
    """The hub operator's sourcing and every service started on `topology`, until the block ends."""
    async with provisioned_hub(topology):
        await system.start()
        try:
            yield Deployment(topology, system)
        finally:
            await system.stop()


async def write(system: System, node: str, count: int, prefix: str) -> int:
    """`count` organisations and one income at `node`: the number of events written."""
    for i in range(count):
        response = await system.post(
            node, "partners", "/organisations", organisation(f"{prefix} {i}", areas=[node])
        )
        assert response.status_code == 201, response.text
    response = await system.post(node, "funding", "/income", income(1_000_00 * count))
    assert response.status_code == 201, response.text
    return count + 1


def sqlite_backup(source: Path, target: Path) -> None:
    """`sqlite3 SOURCE ".backup TARGET"`, as the runbook writes it:
    a consistent copy of a live database."""
    subprocess.run(["sqlite3", str(source), f".backup {target}"], check=True, timeout=60)


def copy_back(files: list[Path], backup: Path) -> None:
    """Replace each file or folder with its copy under `backup` (SQLite's -wal and -shm go too)."""
    for path in files:
        for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            extra.unlink(missing_ok=True)
        if path.is_dir():
            shutil.rmtree(path)
            shutil.copytree(backup / path.name, path)
        else:
            shutil.copy(backup / path.name, path)


def copy_out(files: list[Path], backup: Path) -> None:
    backup.mkdir(parents=True, exist_ok=True)
    for path in files:
        if path.is_dir():
            shutil.copytree(path, backup / path.name)
        else:
            sqlite_backup(path, backup / path.name)


async def rebuilt_stamp(d: Deployment, path: Path) -> tuple[int, str]:
    """Applied events and chain head of a rebuild from the hub stream into a fresh database."""
    fresh = build_service(
        d.settings,
        d.topology.admin_url,
        ReportingSettings(database_url=f"sqlite+aiosqlite:///{path}"),
    )
    fresh.keys = d.system.reporting.keys
    await fresh.start(consume=False)
    nc = await connect(d.topology.admin_url, "test-rebuild")
    try:
        await rebuild(fresh, nc, workers=0)
        async with fresh.read_sessions() as session:
            from services.reporting.read.queries import report_stamp

            stamp = await report_stamp(session)
    finally:
        await nc.close()
        await fresh.stop()
    return stamp.applied_events, stamp.chain_head


async def test_reporting_restored_from_an_old_backup_catches_up_to_what_a_rebuild_gives(
    deployment: Deployment,
    tmp_path: Path,
) -> None:
    d, system = deployment, deployment.system
    written = await write(system, "coventry", 3, "before")
    await system.report_when(lambda r: r.stamp.applied_events == written)
    sqlite_backup(d.reporting_db(), tmp_path / "reporting-backup.db")
    for node in NODES:
        written += await write(system, node, 4, "after")
    before_restore = await system.report_when(lambda r: r.stamp.applied_events == written)
    assert before_restore.stamp.applied_events == written

    await system.reporting.stop()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{d.reporting_db()}{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "reporting-backup.db", d.reporting_db())
    await (
        d.restart_reporting()
    )  # the durable's floor is past the backup: reporting resumes from its database

    caught_up = await system.report_when(lambda r: r.stamp.applied_events == written)
    assert caught_up.stamp.applied_events == written
    assert caught_up.stamp.chain_head == before_restore.stamp.chain_head
    assert caught_up.totals == before_restore.totals
    assert await rebuilt_stamp(d, tmp_path / "rebuilt.db") == (written, caught_up.stamp.chain_head)


async def test_a_reporting_database_ahead_of_the_stream_is_refused_naming_both_positions(
    deployment: Deployment,
    tmp_path: Path,
) -> None:
    d, system = deployment, deployment.system
    written = await write(system, "coventry", 1, "only")
    await system.report_when(lambda r: r.stamp.applied_events == written)
    await system.reporting.stop()
    with closing(sqlite3.connect(d.reporting_db())) as db, db:
        db.execute("UPDATE ingest_position SET stream_seq = 500")
    with pytest.raises(DatabaseAheadOfStream, match=r"sequence 500 but stream \S+ ends at 2\b"):
        await d.restart_reporting()


async def test_a_node_restored_behind_its_events_refuses_to_publish_and_says_how_to_recover(
    deployment: Deployment,
    tmp_path: Path,
) -> None:
    """The issue's drill: back up a node (databases and its NATS folder), write more, restore both:
    the hub has events the node no longer knows, so the node must not number new ones again."""
    d, system = deployment, deployment.system
    written = await backed_up_then_written(d, tmp_path / "backup")
    caught_up = await system.report_when(lambda r: r.stamp.applied_events == written, timeout=120)
    assert (
        caught_up.stamp.applied_events == written
    )  # after a leaf restart the hub's source backs off (#24)

    await d.stop_node("coventry")
    copy_back(d.node_files("coventry"), tmp_path / "backup")
    await d.start_node("coventry")
    partners = system.services[("coventry", "partners")]
    ready = await wait_for(partners.readiness, lambda c: "refused" in c)
    assert ready["ready"] is False
    assert ready["refused"] == (
        "coventry partners: its database has emitted events up to sequence 2 but the hub stream "
        "holds them up to 4 (a database restored from an older backup); not publishing: "
        "run `hub node recover --node coventry` (deploy/RUNBOOK.md)"
    )
    refused = await system.post(
        "coventry", "partners", "/organisations", organisation("D 0", areas=["coventry"])
    )
    assert refused.status_code == 503 and "hub node recover" in refused.json()["reason"]
    listed = await system.client("coventry", "partners").get("/organisations")
    assert listed.status_code == 200  # reads still work
    assert (await system.report()).stamp.applied_events == written  # nothing reused a sequence


async def stream_event_ids(url: str, stream: str) -> Counter[str]:
    """How many times each event id is in `stream`."""
    nc = await connect(url, "test-stream-read")
    try:
        js = nc.jetstream()
        state = (await js.stream_info(stream)).state
        ids: Counter[str] = Counter()
        for seq in range(state.first_seq, state.last_seq + 1):
            ids[json.loads((await js.get_msg(stream, seq)).data)["event_id"]] += 1
        return ids
    finally:
        await nc.close()


async def outbox_event_ids(d: Deployment, node: str) -> set[str]:
    ids: set[str] = set()
    for service in SERVICES:
        with closing(sqlite3.connect(d.settings.data_dir / node / f"{service}.db")) as db:
            ids |= {row[0] for row in db.execute("SELECT event_id FROM outbox")}
    return ids


async def hub_cli(d: Deployment, *args: str, **env: str) -> tuple[int, str]:
    """Run `hub ARGS --data-dir <the deployment's folder>` as an operator would,
    for this test's hub."""
    env = {
        "HUB_HUB": d.settings.hub,
        "HUB_NODES": json.dumps(d.settings.nodes),
        "HUB_NATS_URL": "",
        **env,
    }
    result = await asyncio.to_thread(
        CliRunner().invoke, app, [*args, "--data-dir", str(d.settings.data_dir)], env=env
    )
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "nats_folder_too",
    [False, True],
    ids=["databases restored", "databases and NATS folder restored"],
)
async def test_node_backup_restore_recover_loses_nothing_and_doubles_nothing(
    deployment: Deployment,
    tmp_path: Path,
    nats_folder_too: bool,
) -> None:
    """Backup, more writes (C), restore, `hub node recover`, more writes (D): every event exactly
    once in the hub stream, in the node stream and in the node's outbox; C's rows are back at the
    node."""
    d, system = deployment, deployment.system
    written = await backed_up_then_written(d, tmp_path / "backup")
    assert (
        await system.report_when(lambda r: r.stamp.applied_events == written, 120)
    ).stamp.applied_events == written

    await d.stop_node("coventry")
    restored = d.node_files("coventry") if nats_folder_too else d.node_files("coventry")[:-1]
    copy_back(restored, tmp_path / "backup")
    await d.start_node("coventry")
    await wait_for(system.services[("coventry", "partners")].readiness, lambda c: "refused" in c)
    code, output = await hub_cli(d, "node", "recover", "--node", "coventry")
    assert code == 0, output
    assert (
        "coventry partners: restored events 3..4" in output
        and "coventry funding: restored events 2..2" in output
    )
    await d.restart_node_services("coventry")
    written += await write(system, "coventry", 1, "D")

    report = await system.report_when(lambda r: r.stamp.applied_events == written, 120)
    assert report.stamp.applied_events == written
    hub_ids = await stream_event_ids(d.topology.admin_url, f"HL_{d.settings.hub.upper()}_HUB")
    node_ids = await stream_event_ids(
        d.topology.node_admin_url("coventry"), f"HL_{d.settings.hub.upper()}_COVENTRY"
    )
    outbox = await outbox_event_ids(d, "coventry")
    assert len(outbox) == written and set(hub_ids) == outbox and set(node_ids) == outbox
    assert set(hub_ids.values()) == {1} and set(node_ids.values()) == {1}
    async with system.client("coventry", "partners") as client:
        names = sorted(o["name"] for o in (await client.get("/organisations")).json())
    assert names == ["A 0", "A 1", "C 0", "C 1", "D 0"]


async def test_a_write_after_recovery_reaches_the_hub_whichever_relay_resumes_first(
    deployment: Deployment,
    tmp_path: Path,
) -> None:
    """Databases and NATS folder restored, recovered; partners' relay resumes (and publishes a new
    write, D) before funding's has put back its restored event (C): the hub gets D all the same.
    The hub stream's source resumes after the node stream sequence it last took, so the node
    stream must hold the events the hub has seen at the sequences the hub saw them."""
    d, system = deployment, deployment.system
    written = await backed_up_then_written(d, tmp_path / "backup")
    assert (
        await system.report_when(lambda r: r.stamp.applied_events == written, 120)
    ).stamp.applied_events == written
    await d.stop_node("coventry")
    copy_back(d.node_files("coventry"), tmp_path / "backup")
    await d.start_node("coventry")
    await wait_for(system.services[("coventry", "partners")].readiness, lambda c: "refused" in c)
    code, output = await hub_cli(d, "node", "recover", "--node", "coventry")
    assert code == 0, output

    for service in SERVICES:
        await system.services[("coventry", service)].stop()
    await d.start_node_services("coventry", ["partners"])
    response = await system.post(
        "coventry", "partners", "/organisations", organisation("D 0", areas=["coventry"])
    )
    assert response.status_code == 201, response.text
    await wait_for(
        system.services[("coventry", "partners")].readiness,
        lambda c: c.get("outbox_backlog") == 0,
    )
    await d.start_node_services("coventry", [s for s in SERVICES if s != "partners"])
    response = await system.post("coventry", "funding", "/income", income(1_000_00))
    assert response.status_code == 201, response.text
    written += 2

    report = await system.report_when(lambda r: r.stamp.applied_events == written, 120)
    assert report.stamp.applied_events == written
    outbox = await outbox_event_ids(d, "coventry")
    hub_ids = await stream_event_ids(d.topology.admin_url, f"HL_{d.settings.hub.upper()}_HUB")
    assert set(hub_ids) == outbox and set(hub_ids.values()) == {1}


async def backed_up_then_written(d: Deployment, backup: Path) -> int:
    """Coventry writes (A), is backed up (its databases and NATS folder, stopped), writes more (C):
    the events written, all applied at the hub (A) or on their way (C)."""
    written = await write(d.system, "coventry", 2, "A")
    await d.system.report_when(lambda r: r.stamp.applied_events == written)
    await d.stop_node("coventry")
    copy_out(d.node_files("coventry"), backup)
    await d.start_node("coventry")
    return written + await write(d.system, "coventry", 2, "C")


async def database_with_a_hole(d: Deployment, path: Path, skip: int) -> None:
    """A reporting database that took in the whole hub stream except message `skip`:
    its chain is intact."""
    from services.reporting.ingest.apply import Incoming

    holed = build_service(
        d.settings,
        d.topology.admin_url,
        ReportingSettings(database_url=f"sqlite+aiosqlite:///{path}"),
    )
    holed.keys = d.system.reporting.keys
    await holed.start(consume=False)
    nc = await connect(d.topology.admin_url, "test-hole")
    try:
        js, stream = nc.jetstream(), f"HL_{d.settings.hub.upper()}_HUB"
        last = (await js.stream_info(stream)).state.last_seq
        messages = [await js.get_msg(stream, seq) for seq in range(1, last + 1) if seq != skip]
        await holed.ingest([Incoming(m.subject, m.data, m.seq, m.headers) for m in messages])
    finally:
        await nc.close()
        await holed.stop()


async def test_audit_verify_stream_fails_on_missing_events_and_data_health_shows_them_at_once(
    deployment: Deployment,
    tmp_path: Path,
) -> None:
    d, system = deployment, deployment.system
    written = await write(system, "coventry", 2, "A") + await write(system, "solihull", 1, "S")
    await system.report_when(lambda r: r.stamp.applied_events == written)
    code, output = await hub_cli(d, "audit", "verify", "--stream")
    assert code == 0 and "verified" in output and f"position {written} of {written}" in output, (
        output
    )

    await database_with_a_hole(d, tmp_path / "holed.db", skip=2)
    code, output = await hub_cli(
        d, "audit", "verify", "--stream", "--database", str(tmp_path / "holed.db")
    )
    assert code == 1 and "1 message(s) unaccounted for" in output, output
    assert re.search(
        r"completeness: hub stream message 2 \(\w+ \w+ sequence \d\) was never applied", output
    ), output

    await system.reporting.stop()  # reporting down: the stream moves on without it
    written += await write(system, "solihull", 2, "T")
    hub_stream = f"HL_{d.settings.hub.upper()}_HUB"
    held = await wait_for(
        lambda: stream_event_ids(d.topology.admin_url, hub_stream), lambda ids: len(ids) == written
    )
    assert len(held) == written
    await d.stop_node("coventry")
    partners_db = d.settings.data_dir / "coventry" / "partners.db"
    with (
        closing(sqlite3.connect(partners_db)) as db,
        db,
    ):  # as if restored from a backup taken before the last organisation
        db.execute("UPDATE outbox_cursor SET position = 1")
    code, output = await hub_cli(d, "data-health", "--json")
    assert code == 0, output
    health = {(h["node"], h["service"]): h for h in json.loads(output)}
    assert health[("solihull", "partners")]["not_yet_applied"] == 2
    assert health[("solihull", "funding")]["not_yet_applied"] == 1
    assert health[("coventry", "partners")]["node_database"] == 1
    assert health[("coventry", "partners")]["node_database_behind"] is True
    assert health[("coventry", "funding")]["node_database_behind"] is False


async def test_operator_commands_find_the_deployment_and_fail_fast_in_one_line(
    deployment: Deployment,
) -> None:
    d = deployment
    written = await write(d.system, "coventry", 1, "A")
    await d.system.report_when(lambda r: r.stamp.applied_events == written)
    code, output = await hub_cli(d, "audit", "verify", "--stream")
    assert code == 0 and f"position {written} of {written}" in output, (
        output
    )  # no URL given: the hub's NATS and admin password come from the data folder
    checks = [
        ("hub", ("audit", "verify", "--stream")),
        ("hub", ("data-health",)),
        ("coventry", ("node", "recover", "--node", "coventry")),
    ]
    for server, args in checks:
        conf = d.topology.folder / f"{server}.conf"
        original = conf.read_text()
        conf.write_text(
            re.sub(r"(?m)^listen: (\S+):\d+$", r"listen: \1:9", original, count=1)
        )  # nothing listens on 9
        code, output = await hub_cli(d, *args)
        conf.write_text(original)
        assert code == 2 and "cannot reach NATS at admin@127.0.0.1:9" in output, (args, output)
        assert len(output.strip().splitlines()) == 1 and "Traceback" not in output, output
    # as the least-privileged user: tests/test_operator_commands.py, for every operator command
    secrets = d.settings.data_dir / "secrets" / "secrets.json"
    data = json.loads(secrets.read_text())
    data["nats"]["hub"]["admin"] = "wrong"
    secrets.write_text(json.dumps(data))
    code, output = await hub_cli(d, "audit", "verify", "--stream")
    assert code == 2 and "refused the login" in output and "wrong" not in output, output


async def test_rebuild_while_the_hub_runs_then_reporting_carries_on_from_the_rebuilt_database(
    deployment: Deployment,
) -> None:
    """deploy/RUNBOOK.md, rebuild: `hub rebuild` into a new database while everything runs (it finds
    the hub's NATS and node keys in the data folder), then reporting restarted on it catches up by
    itself."""
    d, system = deployment, deployment.system
    written = await write(system, "coventry", 2, "A") + await write(system, "solihull", 1, "S")
    await system.report_when(lambda r: r.stamp.applied_events == written)
    new = d.settings.data_dir / "hub" / "reporting-new.db"
    code, output = await hub_cli(
        d, "rebuild", HUB_REPORTING_DATABASE_URL=f"sqlite+aiosqlite:///{new}"
    )
    assert code == 0 and f"{written} applied" in output and "0 refused" in output, output
    written += await write(
        system, "solihull", 2, "after the rebuild"
    )  # reporting still runs meanwhile
    live = await system.report_when(lambda r: r.stamp.applied_events == written)

    await (
        system.reporting.stop()
    )  # the switch: stop reporting, put the new database in place, start it
    for suffix in ("", "-wal", "-shm"):
        Path(f"{d.reporting_db()}{suffix}").unlink(missing_ok=True)
    new.rename(d.reporting_db())
    await d.restart_reporting()
    rebuilt = await system.report_when(lambda r: r.stamp.applied_events == written)
    assert (rebuilt.stamp.applied_events, rebuilt.totals) == (written, live.totals)
    code, output = await hub_cli(d, "audit", "verify", "--stream")
    assert code == 0 and f"position {rebuilt.stamp.hub_stream_seq} of" in output, output


async def test_rebuild_checks_signatures_with_the_deployments_node_keys(
    deployment: Deployment, tmp_path: Path
) -> None:
    """An event signed with a key the hub does not trust is refused by `hub rebuild` too,
    with no setting given."""
    d = deployment
    written = await write(d.system, "coventry", 1, "A")
    await d.system.report_when(lambda r: r.stamp.applied_events == written)
    hub_stream = f"HL_{d.settings.hub.upper()}_HUB"
    nc = await connect(d.topology.admin_url, "test-forger")
    try:
        genuine = Envelope.model_validate_json((await nc.jetstream().get_msg(hub_stream, 1)).data)
    finally:
        await nc.close()
    forged = NodeSigner.generate().sign(
        genuine.model_copy(update={"event_id": uuid.uuid4(), "sequence": 99})
    )
    nc = await connect(d.topology.node_services_url("coventry"), "test-forger")
    await nc.jetstream().publish(
        f"hl.{d.settings.hub}.coventry.partners.OrganisationRegistered.v1", forged.to_bytes()
    )
    await nc.close()
    held = await wait_for(
        lambda: stream_event_ids(d.topology.admin_url, hub_stream),
        lambda ids: len(ids) == written + 1,
    )
    assert len(held) == written + 1
    code, output = await hub_cli(
        d, "rebuild", HUB_REPORTING_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    )
    assert code == 0 and f"{written} applied" in output and "1 refused" in output, output


@pytest.fixture
async def pg_deployment(tmp_path: Path, hub_id: str) -> AsyncIterator[Deployment]:
    """The deployment on PostgreSQL: one scratch database per node service and one for reporting."""
    import asyncpg

    from tests.conftest import POSTGRES_DSN, postgres_or_skip

    await postgres_or_skip()
    names = [f"{hub_id}_{n}_{s}" for n in NODES for s in SERVICES] + [f"{hub_id}_reporting"]
    admin = await asyncpg.connect(POSTGRES_DSN)
    for name in names:
        await admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    secrets = Secrets.load_or_create(tmp_path / "secrets", NODES)
    settings = HubSettings(
        hub=hub_id,
        data_dir=tmp_path,
        nodes=NODES,
        node_domains=True,
        auth_tokens_file=secrets.tokens_file,
        duplicate_window_seconds=600,
        database_url=f"{base}/{hub_id}_{{node}}_{{service}}",
        pseudonym_key="a test pseudonym key, the same at every node",
    )
    topology = HubTopology(settings, secrets, Ports())
    try:
        topology.start()
        wiring = leaf_wiring(topology)
        own = wiring.reporting.model_copy(update={"database_url": f"{base}/{hub_id}_reporting"})  # type: ignore[union-attr]
        wiring = dataclasses.replace(wiring, reporting=own)
        system = System(
            settings,
            topology.reporting_url,
            wiring=wiring,
            tokens={n: secrets.token(f"{n}-staff") for n in NODES},
        )
        async with running(topology, system) as deployment:
            yield deployment
    finally:
        topology.stop()
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def pg(*command: str) -> None:
    """A PostgreSQL client command as the runbook writes it, against the test server."""
    from tests.conftest import POSTGRES_DSN

    server = POSTGRES_DSN.rsplit("/", 1)[0].removeprefix("postgresql://")
    user, host = server.split("@")
    subprocess.run(
        [*command, "-h", host.split(":")[0], "-p", host.split(":")[1], "-U", user],
        check=True,
        timeout=120,
        capture_output=True,
    )


@pytest.mark.postgres
async def test_on_postgresql_node_and_reporting_dumps_restore_and_catch_up(
    pg_deployment: Deployment, tmp_path: Path
) -> None:
    """The runbook's PostgreSQL procedures: pg_dump a node and reporting, write more, pg_restore
    both, recover the node; every event once at the hub and the node, reporting caught up to the
    same totals."""
    d, system = pg_deployment, pg_deployment.system
    hub = d.settings.hub
    written = await write(system, "coventry", 2, "A")
    await system.report_when(lambda r: r.stamp.applied_events == written)
    for s in SERVICES:
        pg(
            "pg_dump",
            "-Fc",
            "-d",
            f"{hub}_coventry_{s}",
            "-f",
            str(tmp_path / f"coventry-{s}.dump"),
        )
    pg("pg_dump", "-Fc", "-d", f"{hub}_reporting", "-f", str(tmp_path / "reporting.dump"))
    written += await write(system, "coventry", 2, "C")
    assert (
        await system.report_when(lambda r: r.stamp.applied_events == written)
    ).stamp.applied_events == written

    for s in SERVICES:
        await system.services[("coventry", s)].stop()
    await system.reporting.stop()
    for s in SERVICES:
        pg(
            "pg_restore",
            "--clean",
            "--if-exists",
            "-d",
            f"{hub}_coventry_{s}",
            str(tmp_path / f"coventry-{s}.dump"),
        )
    pg(
        "pg_restore",
        "--clean",
        "--if-exists",
        "-d",
        f"{hub}_reporting",
        str(tmp_path / "reporting.dump"),
    )
    await d.start_node_services("coventry")
    await d.restart_reporting()
    await wait_for(system.services[("coventry", "partners")].readiness, lambda c: "refused" in c)
    env = {
        "HUB_DATABASE_URL": d.settings.database_url or "",
        "HUB_PSEUDONYM_KEY": "a test pseudonym key, the same at every node",
    }
    code, output = await hub_cli(d, "node", "recover", "--node", "coventry", **env)
    assert code == 0 and "coventry partners: restored events 3..4" in output, output
    await d.restart_node_services("coventry")
    written += await write(system, "coventry", 1, "D")

    report = await system.report_when(lambda r: r.stamp.applied_events == written)
    assert report.stamp.applied_events == written
    hub_ids = await stream_event_ids(d.topology.admin_url, f"HL_{hub.upper()}_HUB")
    assert len(hub_ids) == written and set(hub_ids.values()) == {1}
    async with system.client("coventry", "partners") as client:
        names = sorted(o["name"] for o in (await client.get("/organisations")).json())
    assert names == ["A 0", "A 1", "C 0", "C 1", "D 0"]
    async with system.client("coventry", "funding") as client:
        entries = (await client.get("/entries")).json()
    assert sorted(e["amount_pence"] for e in entries) == [
        1_000_00,
        2_000_00,
        2_000_00,
    ]  # C's income is back


async def test_rotate_a_node_key_as_the_runbook_says(
    deployment: Deployment, tmp_path: Path
) -> None:
    """`hub secrets rotate-key`, then the node and reporting restarted: new events verify, and so do
    the old ones in a rebuild."""
    d, system = deployment, deployment.system
    written = await write(system, "coventry", 1, "old key")
    await system.report_when(lambda r: r.stamp.applied_events == written)
    code, output = await hub_cli(d, "secrets", "rotate-key", "--node", "coventry")
    assert code == 0 and "new public key" in output, output
    system.wiring.signers["coventry"] = NodeSigner.from_file(
        d.topology.secrets.node_key_file("coventry")
    )
    await d.restart_node_services("coventry")
    await d.restart_reporting()
    written += await write(system, "coventry", 1, "new key")
    report = await system.report_when(lambda r: r.stamp.applied_events == written)
    assert report.stamp.applied_events == written
    code, output = await hub_cli(
        d, "rebuild", HUB_REPORTING_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    )
    assert code == 0 and f"{written} applied" in output and "0 refused" in output, output


async def test_add_a_node_as_the_runbook_says(deployment: Deployment) -> None:
    """HUB_NODES gains a node, `hub secrets init`, the hub restarted, the node started:
    its events arrive."""
    d, system = deployment, deployment.system
    written = await write(system, "coventry", 1, "A")
    await system.report_when(lambda r: r.stamp.applied_events == written)
    nodes = [*NODES, "warwickshire"]
    code, output = await hub_cli(d, "secrets", "init", HUB_NODES=json.dumps(nodes))
    assert code == 0, output
    secrets = Secrets.load_or_create(d.settings.data_dir / "secrets", nodes)
    assert "warwickshire" in json.loads(secrets.node_keys_file.read_text())

    d.topology.settings = d.settings.model_copy(update={"nodes": nodes})
    d.topology.secrets = secrets
    await system.reporting.stop()
    d.topology.hub_server.stop()  # type: ignore[union-attr]  # `systemctl restart hub-ledger-hub`
    d.topology.start_hub()
    system.settings = d.topology.settings
    async with provisioned_hub(d.topology):
        system.wiring.node_nats_urls["warwickshire"] = d.topology.node_services_url("warwickshire")
        system.wiring.signers["warwickshire"] = NodeSigner.from_file(
            secrets.node_key_file("warwickshire")
        )
        system.tokens["warwickshire"] = secrets.token("warwickshire-staff")
        d.topology.start_node(
            "warwickshire"
        )  # `systemctl enable --now hub-ledger-node@warwickshire`
        await d.start_node_services("warwickshire")
        await d.restart_reporting()
        written += await write(system, "warwickshire", 2, "W")
        report = await system.report_when(lambda r: r.stamp.applied_events == written, 120)
        assert report.stamp.applied_events == written
        code, output = await hub_cli(d, "data-health", "--json", HUB_NODES=json.dumps(nodes))
        health = {(h["node"], h["service"]): h for h in json.loads(output)}
        assert (
            health[("warwickshire", "partners")]["applied"] == 2
            and health[("warwickshire", "partners")]["not_yet_applied"] == 0
        )
        for service in SERVICES:
            await system.services[("warwickshire", service)].stop()


async def test_recover_refuses_writes_taken_after_the_restore_that_reuse_a_sequence(
    deployment: Deployment, tmp_path: Path
) -> None:
    """A write entered offline (`hub partners register`) on the restored database took sequence 3,
    which the hub already holds as another event: recovery says so and changes nothing."""
    d, system = deployment, deployment.system
    written = await write(system, "coventry", 2, "A")
    await system.report_when(lambda r: r.stamp.applied_events == written)
    await d.stop_node("coventry")
    copy_out(d.node_files("coventry")[:-1], tmp_path / "backup")
    await d.start_node("coventry")
    written += await write(system, "coventry", 2, "C")
    assert (
        await system.report_when(lambda r: r.stamp.applied_events == written, 120)
    ).stamp.applied_events == written
    for service in SERVICES:
        await system.services[("coventry", service)].stop()
    copy_back(d.node_files("coventry")[:-1], tmp_path / "backup")
    code, output = await hub_cli(
        d,
        "partners",
        "register",
        "--node",
        "coventry",
        "--name",
        "Offline",
        "--role",
        "delivery_partner",
    )
    assert code == 0, output
    before = await outbox_event_ids(d, "coventry")
    code, output = await hub_cli(d, "node", "recover", "--node", "coventry")
    assert (
        code == 2 and "coventry partners: sequence 3 was written here after the restore" in output
    ), output
    assert await outbox_event_ids(d, "coventry") == before  # nothing changed
