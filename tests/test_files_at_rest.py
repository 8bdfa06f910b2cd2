"""Files at rest are the owner's only (shared/files.py): every database (with its write-ahead log),
key, token file, password hash file and the pseudonym key 0600, every folder holding them 0700,
whatever the umask, for a running hub and for the secrets the demo and deployments generate."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.demo import demo_dashboard_logins
from hub.topology import Secrets
from shared.nats_server import NatsServer
from tests.helpers import System, organisation


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual 022: left to it, SQLite and open() would make files everyone can read."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): mode(p) for p in folder.rglob("*")}


SECRET = (".db", ".db-wal", ".db-shm", ".key", ".json", ".conf")


def exposed(folder: Path) -> list[str]:
    """Files under `folder` another user could read (through every folder above them, `folder`
    included), and databases, keys and secrets that are not 0600 themselves."""
    found = []
    for path in folder.rglob("*"):
        if path.is_dir():
            continue
        chain = [path, *[p for p in path.parents if p == folder or folder in p.parents]]
        if all(mode(p) & 0o077 for p in chain) or (
            path.name.endswith(SECRET) and mode(path) != 0o600
        ):
            found.append(f"{path.relative_to(folder)}: {oct(mode(path))}")
    return found


def wrong_modes(folder: Path) -> list[str]:
    return [
        f"{name}: {oct(m)}"
        for name, m in modes_under(folder).items()
        if m != (0o700 if (folder / name).is_dir() else 0o600)
    ]


async def test_a_running_hub_keeps_its_databases_and_pseudonym_key_private(system: System) -> None:
    async with system.client("coventry", "partners") as client:
        assert (await client.post("/organisations", json=organisation())).status_code == 201
    assert (
        await system.report_when(lambda r: r.stamp.applied_events >= 1)
    ).stamp.applied_events >= 1
    folder = system.settings.data_dir
    names = set(modes_under(folder))
    assert {
        "coventry/partners.db",
        "coventry/partners.db-wal",
        "hub/reporting.db",
        "pseudonym.key",
    } <= names
    assert wrong_modes(folder) == [] and exposed(folder) == []


def test_the_nats_store_is_private(nats_server: NatsServer) -> None:
    assert mode(nats_server.store_dir) == 0o700


def test_generated_secrets_and_dashboard_logins_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "secrets"
    secrets = Secrets.load_or_create(folder, ["coventry", "solihull"])
    demo_dashboard_logins(secrets, ["coventry", "solihull"])
    secrets.rotate_node_key("coventry")
    names = set(modes_under(folder))
    assert {
        "secrets.json",
        "tokens.json",
        "node-keys.json",
        "coventry.key",
        "dashboard-users.json",
        "dashboard-logins.json",
        "dashboard-session-secret",
    } <= names
    assert wrong_modes(folder) == [] and mode(folder) == 0o700 and mode(tmp_path / "data") == 0o700


def test_an_existing_database_made_before_the_rule_is_narrowed(tmp_path: Path) -> None:
    from shared.db import create_engine

    old = tmp_path / "old" / "store.db"
    old.parent.mkdir(mode=0o755)
    old.touch(mode=0o644)
    create_engine(f"sqlite+aiosqlite:///{old}")
    assert (mode(old), mode(old.parent)) == (0o600, 0o700)


async def test_another_engine_on_a_database_in_use_keeps_its_write_ahead_log(
    tmp_path: Path,
) -> None:
    """A second engine on a database this process has open (an offline service beside a running
    one, as the demo's invitation made) must not drop the process's SQLite locks: another
    process's connection closing afterwards (an operator command) would then delete the
    write-ahead log under the running one, and later writes would be lost."""
    import subprocess
    import sys

    from sqlalchemy import text

    from shared.db import create_engine

    db = tmp_path / "service.db"
    running = create_engine(f"sqlite+aiosqlite:///{db}")
    async with running.begin() as conn:
        await conn.execute(text("CREATE TABLE fact (n INTEGER)"))
        await conn.execute(text("INSERT INTO fact VALUES (1)"))
    await create_engine(f"sqlite+aiosqlite:///{db}").dispose()
    count = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "print(c.execute('SELECT count(*) FROM fact').fetchone()[0]); c.close()"
    )

    def counted() -> str:  # another process reads and closes, as `hub data-health` does
        done = subprocess.run([sys.executable, "-c", count, str(db)], capture_output=True)
        return done.stdout.decode().strip()

    assert counted() == "1"
    assert (tmp_path / "service.db-wal").exists(), "the log was deleted under an open database"
    async with running.begin() as conn:
        await conn.execute(text("INSERT INTO fact VALUES (2)"))
    await running.dispose()
    assert counted() == "2", "a write after the other process closed was lost"


def test_a_private_file_is_read_whole_while_it_is_written_again(tmp_path: Path) -> None:
    """A service reading its tokens while `hub node up` writes them again reads the old text or the
    new one, never an empty or cut file; the file stays 0600 and nothing is left beside it."""
    import threading

    from shared.files import write_private

    path, texts = tmp_path / "secrets" / "tokens.json", ("a" * 200_000, "b" * 300_000)
    write_private(path, texts[0])
    seen: set[int] = set()
    writing = True

    def read() -> None:
        while writing:
            seen.add(len(path.read_text()))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(200):
        write_private(path, texts[i % 2])
    writing = False
    reader.join()
    assert seen <= {len(t) for t in texts} and seen, seen
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["tokens.json"]
