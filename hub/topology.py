"""The multi-server layout: a hub NATS server and one leaf NATS server per node, rendered from the
templates in ``deploy/nats/`` with secrets generated for this deployment (never from git).

``Secrets`` are created once under ``<data_dir>/secrets`` (files readable by the owner only) and
reused: NATS passwords, each node's Ed25519 signing key, the registry of node public keys that
reporting trusts, API tokens with their roles, and (for ``hub secrets init`` and the demo) the hub's
pupil pseudonym key, which every node needs and the hub never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets as random_secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shared.auth import Role, new_token, service_token_path, token_digest
from shared.bus import connect, ensure_hub_topology
from shared.files import write_private
from shared.nats_server import NatsServer, free_port
from shared.pseudonym import DEMO_KEY_FILE, SECRETS_KEY_FILE, new_pseudonym_key
from shared.settings import HubSettings
from shared.signing import NodeSigner, node_key_path, node_keys_path
from shared.sourcing import watch_node_sources
from shared.subjects import dlq_stream, dlq_subjects, hub_stream, node_stream

DEPLOY_NATS = Path(__file__).resolve().parent.parent / "deploy" / "nats"
REPORTING_DURABLE = "reporting"


def _password() -> str:
    return random_secrets.token_urlsafe(24)


@dataclass
class Secrets:
    """Everything secret about one deployment of a hub and its nodes."""

    folder: Path
    nats: dict[str, Any]
    tokens: dict[str, dict[str, str]]
    pseudonym_key_made: bool = False
    """Made once: a key moved from here to the nodes (the hub never needs it) is never made again,
    since a second key would split every pupil recorded since into another pseudonym."""

    @classmethod
    def load_or_create(
        cls, folder: Path, nodes: list[str], *, pseudonym_key: bool = False
    ) -> Secrets:
        """Reuse the secrets in `folder`, adding any a new node needs; create them on first use.
        With `pseudonym_key`, the pupil pseudonym key too: made once, by whoever sets up the
        deployment, and given to every node; never made by a node on its own (``hub node up``),
        where a key of its own would split every pupil into several pseudonyms."""
        path = folder / "secrets.json"
        data = json.loads(path.read_text()) if path.exists() else {"nats": {}, "tokens": {}}
        nats = data["nats"]
        nats.setdefault("hub", {"admin": _password(), "reporting": _password(), "sys": _password()})
        nats.setdefault("leaf", {})
        nats.setdefault("nodes", {})
        tokens = data["tokens"]
        tokens.setdefault(
            "manager", {"token": new_token(), "role": Role.CONSORTIUM_MANAGER, "node": ""}
        )
        tokens.setdefault("auditor", {"token": new_token(), "role": Role.AUDITOR, "node": ""})
        for node in nodes:
            nats["leaf"].setdefault(node, _password())
            nats["nodes"].setdefault(
                node, {"services": _password(), "admin": _password(), "sys": _password()}
            )
            tokens.setdefault(
                f"{node}-staff", {"token": new_token(), "role": Role.NODE_STAFF, "node": node}
            )
            tokens.setdefault(
                f"{node}-service", {"token": new_token(), "role": Role.NODE_SERVICE, "node": node}
            )
            key = node_key_path(folder, node)
            if not key.exists():
                write_private(key, NodeSigner.generate().private_key_text())
        made = bool(data.get("pseudonym_key_made"))
        if pseudonym_key and not made:
            _create_pseudonym_key(folder)
            made = True
        secrets = cls(folder, nats, tokens, made)
        secrets._save()
        secrets._write_public_files(sorted(set(nodes) | set(nats["leaf"])))
        return secrets

    def rotate_node_key(self, node: str) -> str:
        """Give `node` a new signing key; the old public key stays trusted for events
        already signed."""
        retired = NodeSigner.from_file(self.node_key_file(node)).public_key
        signer = NodeSigner.generate()
        write_private(self.node_key_file(node), signer.private_key_text())
        self.nats.setdefault("retired_keys", {}).setdefault(node, []).append(retired)
        self._save()
        self._write_public_files(list(self.nats["leaf"]))
        return signer.public_key

    def _save(self) -> None:
        write_private(
            self.folder / "secrets.json",
            json.dumps(
                {
                    "nats": self.nats,
                    "tokens": self.tokens,
                    "pseudonym_key_made": self.pseudonym_key_made,
                },
                indent=2,
            ),
        )

    def node_key_file(self, node: str) -> Path:
        return node_key_path(self.folder, node)

    @property
    def node_keys_file(self) -> Path:
        """Public keys reporting verifies events against."""
        return node_keys_path(self.folder)

    @property
    def tokens_file(self) -> Path:
        """Token digests and roles, as the services read them."""
        return self.folder / "tokens.json"

    def token(self, name: str) -> str:
        return self.tokens[name]["token"]

    def _write_public_files(self, nodes: list[str]) -> None:
        retired = self.nats.get("retired_keys", {})
        keys = {
            node: [
                NodeSigner.from_file(self.node_key_file(node)).public_key,
                *retired.get(node, []),
            ]
            for node in nodes
        }
        write_private(self.node_keys_file, json.dumps(keys, indent=2))
        digests = {
            token_digest(t["token"]): {
                "name": name,
                "role": str(t["role"]),
                **({"node": t["node"]} if t["node"] else {}),
            }
            for name, t in self.tokens.items()
        }
        write_private(self.tokens_file, json.dumps(digests, indent=2))
        for t in self.tokens.values():
            if t["role"] == Role.NODE_SERVICE:
                write_private(service_token_path(self.folder, t["node"]), t["token"])


def _create_pseudonym_key(folder: Path) -> None:
    """The secrets folder's pseudonym key; a data folder's earlier demo key is kept as it (the
    pupils already recorded were pseudonymised with it)."""
    path = folder / SECRETS_KEY_FILE
    if path.exists():
        return
    earlier = folder.parent / DEMO_KEY_FILE
    write_private(path, earlier.read_text() if earlier.exists() else new_pseudonym_key())


@dataclass
class Ports:
    host: str = "127.0.0.1"
    hub: int = field(default_factory=free_port)
    hub_leaf: int = field(default_factory=free_port)
    nodes: dict[str, int] = field(default_factory=dict)

    def node(self, node: str) -> int:
        return self.nodes.setdefault(node, free_port(self.host))


def _render(template: str, **values: Any) -> str:
    env = Environment(
        loader=FileSystemLoader(DEPLOY_NATS), undefined=StrictUndefined, keep_trailing_newline=True
    )
    return env.get_template(template).render(**values)


def render_hub_conf(settings: HubSettings, secrets: Secrets, ports: Ports, store_dir: Path) -> str:
    return _render(
        "hub.conf.j2",
        server_name="hub",
        host=ports.host,
        port=ports.hub,
        http_port=None,
        leaf_port=ports.hub_leaf,
        store_dir=store_dir,
        tls=None,
        hub=settings.hub,
        nodes=settings.nodes,
        hub_stream=hub_stream(settings.hub),
        dlq_stream=dlq_stream(settings.hub),
        dlq_subjects=dlq_subjects(settings.hub),
        durable=REPORTING_DURABLE,
        secrets={**secrets.nats["hub"], "leaf": secrets.nats["leaf"]},
    )


def render_node_conf(
    settings: HubSettings,
    node: str,
    secrets: Secrets,
    ports: Ports,
    store_dir: Path,
    hub_leaf_port: int | None = None,
) -> str:
    return _render(
        "node.conf.j2",
        node=node,
        hub=settings.hub,
        host=ports.host,
        port=ports.node(node),
        http_port=None,
        store_dir=store_dir,
        node_stream=node_stream(settings.hub, node),
        hub_stream=hub_stream(settings.hub),
        leaf_scheme="nats-leaf",
        hub_leaf_host=ports.host,
        hub_leaf_port=hub_leaf_port or ports.hub_leaf,
        tls=None,
        secrets={**secrets.nats["nodes"][node], "leaf": secrets.nats["leaf"][node]},
    )


@dataclass
class HubTopology:
    """A running hub server and node leaf servers, and the URLs each party connects with."""

    settings: HubSettings
    secrets: Secrets
    ports: Ports
    hub_server: NatsServer | None = None
    node_servers: dict[str, NatsServer] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.settings.data_dir / "nats"

    def start_hub(self) -> NatsServer:
        conf = self.folder / "hub.conf"
        write_private(
            conf, render_hub_conf(self.settings, self.secrets, self.ports, self.folder / "hub")
        )
        self.hub_server = NatsServer(
            self.folder / "hub", port=self.ports.hub, config_file=conf
        ).start()
        return self.hub_server

    def start_node(self, node: str, hub_leaf_port: int | None = None) -> NatsServer:
        conf = self.folder / f"{node}.conf"
        store = self.folder / node
        write_private(
            conf,
            render_node_conf(self.settings, node, self.secrets, self.ports, store, hub_leaf_port),
        )
        server = NatsServer(store, port=self.ports.node(node), config_file=conf).start()
        self.node_servers[node] = server
        return server

    def start(self) -> HubTopology:
        self.start_hub()
        for node in self.settings.nodes:
            self.start_node(node)
        return self

    def stop(self) -> None:
        for server in self.node_servers.values():
            server.stop()
        if self.hub_server:
            self.hub_server.stop()

    def _url(self, port: int, user: str, password: str) -> str:
        return f"nats://{user}:{password}@{self.ports.host}:{port}"

    def node_services_url(self, node: str) -> str:
        return self._url(
            self.ports.node(node), "services", self.secrets.nats["nodes"][node]["services"]
        )

    def node_admin_url(self, node: str) -> str:
        return self._url(self.ports.node(node), "admin", self.secrets.nats["nodes"][node]["admin"])

    @property
    def reporting_url(self) -> str:
        return self._url(self.ports.hub, "reporting", self.secrets.nats["hub"]["reporting"])

    @property
    def admin_url(self) -> str:
        return self._url(self.ports.hub, "admin", self.secrets.nats["hub"]["admin"])


@contextlib.asynccontextmanager
async def provisioned_hub(topology: HubTopology) -> AsyncIterator[None]:
    """As the hub's operator: create the hub and dead-letter streams, then keep the hub stream
    sourcing every node whose stream is reachable, for as long as the context lasts."""
    nc = await connect(topology.admin_url, "hub-provision")
    s = topology.settings
    await ensure_hub_topology(
        nc.jetstream(), s.hub, s.nodes, s.duplicate_window_seconds, domains=True
    )
    watcher = asyncio.create_task(
        watch_node_sources(nc, s.hub, s.nodes, s.duplicate_window_seconds, interval=0.5)
    )
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await nc.drain()
