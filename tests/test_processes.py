"""Processes that start and stop cleanly, run as an operator runs them (`.venv/bin/hub …` against a
temporary data folder and free ports): Ctrl-C and SIGTERM stop everything in order with exit 0 and
no traceback; SIGKILL takes the children along; a port or NATS storage folder another process
holds, or a secret a node lacks, is one line naming it, before anything starts."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.nats_server import NatsServer, free_port
from tests.processes import free_base_port, wait_http

HUB = str(Path(sys.executable).parent / "hub")
NODES = '["coventry","solihull"]'


def hub_command(args: list[str], data_dir: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """`hub …` in a process group of its own, as a terminal runs a foreground command (a terminal's
    Ctrl-C reaches the whole group: `os.killpg`)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    environ.update(HUB_HUB="proctest", HUB_NODES=NODES, **env)
    return subprocess.Popen(
        [HUB, *args, "--data-dir", str(data_dir)],
        env=environ,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def run_hub(
    args: list[str], data_dir: Path, umask: int = -1, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    environ.update(HUB_HUB="proctest", HUB_NODES=NODES, COLUMNS="200", **env)
    return subprocess.run(
        [HUB, *args, "--data-dir", str(data_dir)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        umask=umask,
    )


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie has ended)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def command_names(pids: set[int]) -> list[str]:
    names = []
    for pid in pids:
        with contextlib.suppress(OSError):
            names.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
    return names


def gone_within(pids: set[int], seconds: float) -> set[int]:
    """Wait up to `seconds` for `pids` to end; those still running."""
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


def wait_for_text(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"never printed {text!r}:\n{log.read_text(errors='replace')}")


def stop_and_check(proc: subprocess.Popen[bytes], how: str, log: Path) -> None:
    """Stop `proc` as a terminal's Ctrl-C (its whole group) or systemd (SIGTERM to it alone) would:
    exit 0, no traceback, none of its children left."""
    children = descendants(proc.pid)
    assert children, "the command started no processes"
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=90) == 0, log.read_text(errors="replace")
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text
    assert not gone_within(children, 5), command_names(alive(children))


@pytest.fixture
def kill_on_exit() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_the_empty_demo_stops_on_ctrl_c_and_sigterm_and_keeps_what_was_entered(
    tmp_path: Path, kill_on_exit: list[subprocess.Popen[bytes]]
) -> None:
    """`hub demo --empty`: no sample; Ctrl-C, then (restarted on the same, kept folder) SIGTERM,
    each stops it in order: exit 0, no traceback, its nats-servers gone."""
    data = tmp_path / "demo"
    for run, how in enumerate(("ctrl-c", "sigterm")):
        base, log = free_base_port(), tmp_path / f"demo-{how}.log"
        proc = hub_command(["demo", "--empty", "--base-port", str(base)], data, log)
        kill_on_exit.append(proc)
        wait_for_text(log, "Serving", proc)
        report = httpx.get(f"http://127.0.0.1:{base}/health/ready", timeout=5)
        assert report.status_code == 200, report.text
        if run == 0:
            assert "0 events applied" in log.read_text()
            (data / "coventry" / "entered-before").write_text("kept")
        else:
            assert (data / "coventry" / "entered-before").exists()  # --empty keeps its folder
        stop_and_check(proc, how, log)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_node_up_stops_its_services_then_its_nats_server(
    tmp_path: Path, how: str, kill_on_exit: list[subprocess.Popen[bytes]]
) -> None:
    base, log = free_base_port(), tmp_path / "node.log"
    args = ["node", "up", "--node", "coventry", "--nats-port", str(free_port())]
    proc = hub_command([*args, "--base-port", str(base)], tmp_path, log)
    kill_on_exit.append(proc)
    for offset in (1, 2, 3):
        wait_http(f"http://127.0.0.1:{base + offset}/health/live", proc)
    stop_and_check(proc, how, log)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_hub_nats_stops_its_server(
    tmp_path: Path, how: str, kill_on_exit: list[subprocess.Popen[bytes]]
) -> None:
    log = tmp_path / "nats.log"
    proc = hub_command(["nats", "--port", str(free_port())], tmp_path, log)
    kill_on_exit.append(proc)
    wait_for_text(log, "Ctrl-C stops it", proc)
    stop_and_check(proc, how, log)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["node", "hub"])
def test_sigkill_takes_the_commands_nats_server_and_services_along(
    tmp_path: Path, command: str, kill_on_exit: list[subprocess.Popen[bytes]]
) -> None:
    """Killed outright, `hub node up` / `hub hub up` leave nothing running: the kernel ends their
    nats-server and services (parent-death signal); a restart then starts afresh."""
    base, log = free_base_port(), tmp_path / "up.log"
    if command == "node":
        args = ["node", "up", "--node", "coventry", "--nats-port", str(free_port())]
        args, probe = [*args, "--base-port", str(base)], base + 1
    else:
        args = ["hub", "up", "--nats-port", str(free_port()), "--leaf-port", str(free_port())]
        args, probe = [*args, "--port", str(base)], base
    proc = hub_command(args, tmp_path, log)
    kill_on_exit.append(proc)
    wait_http(f"http://127.0.0.1:{probe}/health/live", proc)
    children = descendants(proc.pid)
    assert any("nats-server" in name for name in command_names(children))
    proc.kill()
    proc.wait()
    assert not gone_within(children, 10), command_names(alive(children))
    again = hub_command(args, tmp_path, tmp_path / "again.log")
    kill_on_exit.append(again)
    wait_http(f"http://127.0.0.1:{probe}/health/live", again)
    stop_and_check(again, "sigterm", tmp_path / "again.log")


def test_the_hub_nats_restarts_beside_a_running_reporting(
    tmp_path: Path, kill_on_exit: list[subprocess.Popen[bytes]]
) -> None:
    """`hub hub up --no-reporting` serves no HTTP, so reporting (`hub hub reporting`) already
    listening on the reporting port does not stop it: the runbook's "Restart one process"."""
    with socket.socket() as reporting:
        reporting.bind(("127.0.0.1", 0))
        reporting.listen()
        taken = str(reporting.getsockname()[1])
        args = ["hub", "up", "--no-reporting", "--nats-port", str(free_port())]
        log = tmp_path / "hub.log"
        proc = hub_command([*args, "--leaf-port", str(free_port()), "--port", taken], tmp_path, log)
        kill_on_exit.append(proc)
        wait_for_text(log, "reporting runs apart", proc)
    stop_and_check(proc, "sigterm", log)


PREPARER = textwrap.dedent(
    """
    import multiprocessing.resource_tracker as tracker, os, time
    from services.reporting.ingest.preparing import ParallelPreparer

    preparer = ParallelPreparer("h", None, workers=2)
    ready = set()  # workers that have run a task, so their set-up ran
    while len(ready) < 2:
        ready |= {f.result() for f in [preparer._pool.submit(os.getpid) for _ in range(4)]}
    print(*ready, tracker._resource_tracker._pid, flush=True)
    time.sleep(600)
    """
)


def test_preparing_workers_and_their_resource_tracker_end_with_a_killed_parent(
    kill_on_exit: list[subprocess.Popen[bytes]],
) -> None:
    """The preparing workers (the live consumer's and `hub rebuild`'s) and multiprocessing's
    resource tracker end once their parent is SIGKILLed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", PREPARER], stdout=subprocess.PIPE, cwd=Path(__file__).parent.parent
    )
    kill_on_exit.append(proc)
    assert proc.stdout is not None
    pids = {int(pid) for pid in proc.stdout.readline().split()}
    assert len(pids) == 3 and alive(pids) == pids
    proc.kill()
    proc.wait()
    assert not gone_within(pids, 10), command_names(alive(pids))


def test_a_node_whose_nats_storage_is_held_says_so_and_starts_nothing(tmp_path: Path) -> None:
    """A nats-server already running on the node's storage folder (an orphan, a second command):
    one line naming the folder and the holder's pid, exit 2; the holder keeps running alone."""
    holder = NatsServer(tmp_path / "nats" / "coventry").start()
    try:
        args = ["node", "up", "--node", "coventry", "--nats-port", str(free_port())]
        done = run_hub([*args, "--base-port", str(free_base_port())], tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"in use by another nats-server (pid {holder.pid})" in done.stdout
        assert str(tmp_path / "nats" / "coventry") in done.stdout
        assert "Traceback" not in done.stdout + done.stderr
        assert not (tmp_path / "coventry").exists()  # no database made
    finally:
        holder.stop()


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (
            ["node", "up", "--node", "coventry", "--nats-port", "{port}", "--base-port", "{base}"],
            "--nats-port",
        ),
        (
            [
                "node",
                "up",
                "--node",
                "coventry",
                "--nats-port",
                "{free}",
                "--base-port",
                "{port-1}",
            ],
            "--base-port",
        ),
        (
            ["hub", "up", "--nats-port", "{free}", "--leaf-port", "{free}", "--port", "{port}"],
            "--port",
        ),
        (
            ["hub", "up", "--nats-port", "{free}", "--leaf-port", "{port}", "--port", "{free}"],
            "--leaf-port",
        ),
        (["demo", "--empty", "--base-port", "{port}"], "--base-port"),
        (["serve", "partners", "--node", "coventry", "--port", "{port}"], "--port"),
    ],
    ids=["node-nats", "node-http", "hub-http", "hub-leaf", "demo", "serve"],
)
def test_a_port_in_use_is_an_error_naming_it_and_its_option(
    tmp_path: Path, command: list[str], option: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        values = {"{port}": port, "{port-1}": port - 1, "{base}": free_base_port()}
        args = [str(values[a]) if a in values else a for a in command]
        done = run_hub([str(free_port()) if a == "{free}" else a for a in args], tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"port {port} " in done.stdout and option in done.stdout, done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "nats").exists()  # nothing started


def test_secrets_init_makes_everything_a_node_needs_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    done = run_hub(["secrets", "init"], tmp_path, umask=0o022)
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / "secrets"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    key = folder / "pseudonym.key"
    assert len(key.read_text().strip()) == 64
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert {"coventry.key", "solihull.key", "secrets.json", "tokens.json"} <= {
        p.name for p in folder.iterdir()
    }
    made = key.read_text()
    again = run_hub(["secrets", "init"], tmp_path)
    assert again.returncode == 0 and key.read_text() == made  # made once, then kept
    key.unlink()  # moved to the nodes: the hub never needs it
    moved = run_hub(["secrets", "init"], tmp_path)
    assert moved.returncode == 0 and "not made again" in moved.stdout
    assert not key.exists()


def test_node_up_on_a_database_server_without_the_pseudonym_key_says_so_before_migrating(
    tmp_path: Path,
) -> None:
    """The key every node shares cannot be made by one node: without it, `hub node up` stops in one
    line naming it and where it goes, before its NATS server starts or any database migrates."""
    args = ["node", "up", "--node", "coventry", "--nats-port", str(free_port())]
    done = run_hub(
        [*args, "--base-port", str(free_base_port())],
        tmp_path,
        HUB_DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:1/hub_{node}_{service}",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and "coventry: missing the pupil pseudonym key" in lines[0], lines
    assert "HUB_PSEUDONYM_KEY" in lines[0] and "hub secrets init" in lines[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "nats" / "coventry").exists()
