"""A deployment run as its operator runs it: `hub hub up --no-reporting`, `hub hub reporting` and
`hub node up` as separate processes on one data folder, each started, stopped, killed and
restarted on its own (deploy/RUNBOOK.md, "Restart one process")."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hub.runner import system_ports
from shared.settings import HubSettings

ROOT = Path(__file__).resolve().parent.parent


def quiet_port(length: int = 1) -> int:
    """A free port, with the `length - 1` after it free too, below the ephemeral range: a process
    restarted on it finds it still free (an outgoing connection may take an ephemeral port)."""
    while True:
        base = random.randrange(20_000, 32_000 - length)
        if all(_free(base + i) for i in range(length)):
            return base


def free_base_port(nodes: tuple[str, ...] = ("coventry", "warwickshire", "solihull")) -> int:
    """A `--base-port` from which every port `hub demo` (`start_system`) or `hub node up` listens
    on is free: a single free port is not enough, the services take the ten after it per node."""
    span = max(system_ports(HubSettings(nodes=list(nodes)), 0)) + 1
    return quiet_port(span)


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Ports:
    """Every port the deployment's processes listen on, free on loopback."""

    hub_nats: int = field(default_factory=quiet_port)
    hub_leaf: int = field(default_factory=quiet_port)
    reporting: int = field(default_factory=quiet_port)
    node_nats: dict[str, int] = field(default_factory=dict)
    node_base: dict[str, int] = field(default_factory=dict)

    def for_node(self, node: str) -> tuple[int, int]:
        """The node's NATS port and its services' base port (partners on base+1, and so on)."""
        nats = self.node_nats.setdefault(node, quiet_port())
        base = self.node_base.setdefault(node, quiet_port(4))
        return nats, base


class ProcessDeployment:
    """The hub's NATS, reporting and each node as their own `hub` process; logs under data."""

    def __init__(self, data_dir: Path, hub: str, nodes: list[str]) -> None:
        self.data_dir, self.hub, self.nodes = data_dir, hub, nodes
        self.ports = Ports()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = {}
        self.cleanup: list[Callable[[], None]] = []
        """What else to stop at the end (servers a test started itself)."""

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(PYTHONPATH=str(ROOT), HUB_HUB=self.hub, HUB_NODES=json.dumps(self.nodes))
        return env

    def _start(self, name: str, args: list[str]) -> None:
        self.starts[name] = self.starts.get(name, 0) + 1
        log = self.data_dir / "logs" / f"{name}.{self.starts[name]}.log"
        log.parent.mkdir(exist_ok=True)
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", *args, "--data-dir", str(self.data_dir)],
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def start_hub_nats(self) -> None:
        """`hub hub up --no-reporting`: the hub's nats-server and its sources, no reporting."""
        p = self.ports
        args = ["hub", "up", "--no-reporting", "--nats-port", str(p.hub_nats)]
        self._start("hub", [*args, "--leaf-port", str(p.hub_leaf)])
        wait_port(p.hub_nats)

    def start_reporting(self) -> None:
        """`hub hub reporting`: finds NATS, keys and tokens in the data folder; waits until live."""
        self._start("reporting", ["hub", "reporting", "--port", str(self.ports.reporting)])
        wait_http(f"{self.reporting_url}/health/live", self.processes["reporting"])

    def start_node(self, node: str) -> None:
        """`hub node up --node NODE`: its leaf server and services; waits until all are live."""
        nats, base = self.ports.for_node(node)
        args = ["node", "up", "--node", node, "--nats-port", str(nats)]
        args += ["--hub-leaf-port", str(self.ports.hub_leaf), "--base-port", str(base)]
        self._start(node, args)
        for offset in (1, 2, 3):
            wait_http(f"http://127.0.0.1:{base + offset}/health/live", self.processes[node])

    def stop(self, name: str) -> int:
        """Stop one process as systemd does (SIGINT, the units' KillSignal); its exit status."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGINT)
        return process.wait(timeout=60)

    def kill(self, name: str) -> None:
        """SIGKILL one process, as a crash or the OOM killer would."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def stop_all(self) -> None:
        for name in [*self.nodes, "reporting", "hub"]:
            if name in self.processes:
                try:
                    self.stop(name)
                except subprocess.TimeoutExpired:
                    self.kill(name)
        for stop in self.cleanup:
            stop()

    @property
    def reporting_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.reporting}"

    def partners_url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports.for_node(node)[1] + 1}"

    def token(self, name: str) -> str:
        secrets = json.loads((self.data_dir / "secrets" / "secrets.json").read_text())
        return str(secrets["tokens"][name]["token"])

    def position(self) -> tuple[int, int]:
        """Reporting's stamp as its database holds it: (hub stream seq, events applied)."""
        path = self.data_dir / "hub" / "reporting.db"
        if not path.exists():
            return 0, 0
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            try:
                row = db.execute("SELECT stream_seq, applied FROM ingest_position").fetchone()
            except sqlite3.OperationalError:  # not migrated yet
                return 0, 0
        return (row[0], row[1]) if row else (0, 0)

    def log_text(self, name: str) -> str:
        return "".join(
            p.read_text() for p in sorted((self.data_dir / "logs").glob(f"{name}.*.log"))
        )


def wait_port(port: int, timeout: float = 120) -> None:
    """Until something listens on `port` (a `hub` process's start-up, imports included, can take
    half a minute on a loaded two-core machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def wait_http(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 180
) -> None:
    """Until `url` answers 200; an exit of the `process` that should serve it fails at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{url}: its process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered")
