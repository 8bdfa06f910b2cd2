"""The leaf topology as separate processes the harness holds and can SIGKILL: a hub nats-server,
one leaf nats-server per node (each linked through a cuttable proxy), the nine node services and
reporting, each a ``hub serve`` child process configured by environment as in production."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.reliability.proxy import CuttableProxy
from harness.service_process import ServiceProcess, wait_ready
from hub.demo import provisioned_hub
from hub.topology import HubTopology, Ports, Secrets
from shared.bus import connect
from shared.identity import SERVICES
from shared.nats_server import NatsServer, free_port
from shared.settings import HubSettings
from shared.subjects import hub_stream

NODES = ["coventry", "warwickshire", "solihull"]
REPORTING = ("hub", "reporting")


@dataclass
class Cluster:
    """Everything a hub and its three nodes run, started from `hub/topology.py`."""

    folder: Path
    hub_id: str = "reliability"
    nodes: list[str] = field(default_factory=lambda: list(NODES))
    topology: HubTopology = field(init=False)
    proxies: dict[str, CuttableProxy] = field(default_factory=dict)
    services: dict[tuple[str, str], ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        secrets = Secrets.load_or_create(self.folder / "secrets", self.nodes)
        settings = HubSettings(
            hub=self.hub_id,
            data_dir=self.folder,
            nodes=self.nodes,
            node_domains=True,
            auth_tokens_file=secrets.tokens_file,
        )
        ports = Ports(nodes={node: free_port() for node in self.nodes})
        self.topology = HubTopology(settings, secrets, ports)

    @property
    def settings(self) -> HubSettings:
        return self.topology.settings

    @property
    def reporting_db(self) -> Path:
        return Path(self.settings.node_database_url("hub", "reporting").split("///", 1)[1])

    def token(self, node: str) -> str:
        return self.topology.secrets.token(f"{node}-staff" if node != "hub" else "manager")

    def _env(self, node: str, service: str) -> dict[str, str]:
        secrets = self.topology.secrets
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(
            HUB_HUB=self.hub_id,
            HUB_NODES=json.dumps(self.nodes),
            HUB_DATA_DIR=str(self.folder),
            HUB_NODE_DOMAINS="true",
            HUB_AUTH_TOKENS_FILE=str(secrets.tokens_file),
            HUB_LOG_LEVEL="WARNING",
            HUB_PSEUDONYM_KEY="reliability-harness-pseudonym-key",
            HUB_RATE_LIMIT_PER_MINUTE="1000000",
        )
        if service == "reporting":
            env.update(
                HUB_NATS_URL=self.topology.reporting_url,
                HUB_REPORTING_NODE_KEYS_FILE=str(secrets.node_keys_file),
                HUB_REPORTING_PROVISION_STREAMS="false",
            )
        else:
            env.update(
                HUB_NATS_URL=self.topology.node_services_url(node),
                HUB_NODE_KEY_FILE=str(secrets.node_key_file(node)),
            )
        return env

    async def start_nats(self) -> None:
        await asyncio.to_thread(self.topology.start_hub)
        for node in self.nodes:
            self.proxies[node] = await CuttableProxy(self.topology.ports.hub_leaf).start()
            await asyncio.to_thread(self.topology.start_node, node, self.proxies[node].port)

    def start_services(self) -> None:
        logs = self.folder / "logs"
        logs.mkdir(exist_ok=True)
        for key in [REPORTING, *((n, s) for n in self.nodes for s in SERVICES)]:
            proc = ServiceProcess(
                key, free_port(), self._env(*key), logs / f"{key[0]}-{key[1]}.log"
            )
            proc.start()
            self.services[key] = proc

    async def wait_ready(self, timeout: float = 90.0) -> None:
        """Every service answers /health/ready with 200."""
        deadline = time.monotonic() + timeout
        for proc in self.services.values():
            await wait_ready(proc, max(0.0, deadline - time.monotonic()))

    async def wait_sourced(self, timeout: float = 60.0) -> None:
        """The hub stream sources every node (the operator's watcher adds each as it appears)."""
        nc = await connect(self.topology.admin_url, "reliability-check")
        try:
            deadline = time.monotonic() + timeout
            while True:
                with contextlib.suppress(Exception):
                    info = await nc.jetstream().stream_info(hub_stream(self.hub_id))
                    if len(info.config.sources or []) == len(self.nodes):
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError("hub stream does not source every node")
                await asyncio.sleep(0.2)
        finally:
            await nc.close()

    async def restart_nats(self, server: NatsServer) -> None:
        await asyncio.to_thread(server.start)

    def rss_kib(self) -> dict[tuple[str, str], int]:
        """Resident memory of every service process, from /proc."""
        return {key: _rss(proc.pid) for key, proc in self.services.items() if proc.pid}

    def stop(self) -> None:
        for proc in self.services.values():
            if proc.process is not None and proc.process.poll() is None:
                proc.process.terminate()
        for proc in self.services.values():
            if proc.process is not None:
                try:
                    proc.process.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.topology.stop()


def _rss(pid: int | None) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@contextlib.asynccontextmanager
async def running_cluster(folder: Path) -> AsyncIterator[Cluster]:
    """Start NATS, the operator's provisioning, every service; stop it all on the way out."""
    cluster = Cluster(folder)
    try:
        await cluster.start_nats()
        async with provisioned_hub(cluster.topology):
            cluster.start_services()
            await cluster.wait_ready()
            await cluster.wait_sourced()
            yield cluster
    finally:
        for proxy in cluster.proxies.values():
            await proxy.cut()
        await asyncio.to_thread(cluster.stop)
