"""Services run as deployed, for the write-to-report bench: reporting and each node's partners
service as processes of their own (``hub serve``, configured by environment as deploy/ configures
them) on the bench's nats-server. Nodes sign what their relays publish with their keys and
reporting checks every signature, as in a deployment; the bench's own process only sends writes
and watches the reporting database, so it shares no event loop with what it measures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.files import private_folder, write_private
from shared.nats_server import free_port
from shared.processes import die_with_parent
from shared.signing import NodeSigner, node_key_path, node_keys_path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ServiceProcess:
    """One ``hub serve`` child, its log under the data folder."""

    service: str
    node: str | None
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        return f"{self.node} {self.service}" if self.node else self.service

    def start(self) -> None:
        args = [sys.executable, "-m", "hub.cli", "serve", self.service, "--port", str(self.port)]
        if self.node is not None:
            args += ["--node", self.node]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # ends with this process, however it ends
                args,
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )

    def cpu_seconds(self) -> float:
        """User and system CPU time the process has used so far (0 once it has ended)."""
        if self.process is None:
            return 0.0
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = Path(f"/proc/{self.process.pid}/stat").read_text()
            fields = text.rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return 0.0

    def stop(self) -> None:
        """SIGINT, as systemd stops the units (the relay drains); SIGKILL if it will not end."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class SeparateServices:
    """Reporting and each node's partners service, each its own process."""

    data_dir: Path
    reporting: ServiceProcess
    partners: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def reporting_db(self) -> Path:
        return self.data_dir / "hub" / "reporting.db"

    def all(self) -> list[ServiceProcess]:
        return [self.reporting, *self.partners.values()]


def service_env(
    nats_url: str, data_dir: Path, hub: str, nodes: list[str], **extra: str
) -> dict[str, str]:
    """The environment a deployed service reads its settings from (no HUB_* of this process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        PYTHONPATH=str(ROOT),
        HUB_HUB=hub,
        HUB_NODES=json.dumps(nodes),
        HUB_DATA_DIR=str(data_dir),
        HUB_NATS_URL=nats_url,
        HUB_LOG_LEVEL="WARNING",
        HUB_RATE_LIMIT_PER_MINUTE="1000000",  # the bench is one client writing to each service
        **extra,
    )
    return env


@contextlib.asynccontextmanager
async def separate_services(
    nats_url: str,
    data_dir: Path,
    hub: str,
    signers: Mapping[str, NodeSigner],
    ready_timeout: float = 180,
) -> AsyncIterator[SeparateServices]:
    """Reporting (it declares the hub's streams), then each node's partners service, each started
    as its own ``hub serve`` process and ready before this yields; all stopped on the way out."""
    nodes = list(signers)
    secrets = private_folder(data_dir / "secrets")
    for node, signer in signers.items():
        write_private(node_key_path(secrets, node), signer.private_key_text())
    keys = {node: signer.public_key for node, signer in signers.items()}
    write_private(node_keys_path(secrets), json.dumps(keys))
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def process(service: str, node: str | None, **extra: str) -> ServiceProcess:
        env = service_env(nats_url, data_dir, hub, nodes, **extra)
        log = logs / f"{node or 'hub'}-{service}.log"
        return ServiceProcess(service, node, free_port(), env, log)

    running = SeparateServices(
        data_dir,
        process("reporting", None, HUB_REPORTING_NODE_KEYS_FILE=str(node_keys_path(secrets))),
    )
    try:
        running.reporting.start()
        await wait_ready(running.reporting, ready_timeout)
        for node in nodes:
            running.partners[node] = process(
                "partners", node, HUB_NODE_KEY_FILE=str(node_key_path(secrets, node))
            )
            running.partners[node].start()
        for proc in running.partners.values():
            await wait_ready(proc, ready_timeout)
        yield running
    finally:
        for proc in reversed(running.all()):
            await asyncio.to_thread(proc.stop)


async def wait_ready(proc: ServiceProcess, timeout: float) -> None:
    """Until the service answers /health/ready with 200; its exit fails at once."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if proc.process is None or proc.process.poll() is not None:
                raise RuntimeError(f"{proc.name} exited during startup (log {proc.log})")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{proc.url}/health/ready")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} not ready within {timeout:g}s (log {proc.log})")
            await asyncio.sleep(0.2)
