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
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.service_process import HUB, ROOT, ServiceProcess, wait_ready
from shared.files import private_folder, write_private
from shared.nats_server import free_port
from shared.signing import NodeSigner, node_key_path, node_keys_path


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
        return ServiceProcess((node or HUB, service), free_port(), env, log)

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
