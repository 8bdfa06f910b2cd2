"""NATS connections and the JetStream streams the system relies on.

Streams are declared from code in the embedded setup (``declare_streams``); in production
they are provisioned by operators from ``deploy/`` and services only attach.
"""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    ExternalStream,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamSource,
)
from nats.js.errors import NotFoundError

from shared.subjects import dlq_stream, dlq_subjects, hub_stream, node_stream, node_subjects

log = logging.getLogger(__name__)


async def connect(url: str, name: str, **options: object) -> Client:
    """Connect with reconnects forever: a service outlives NATS restarts and link cuts."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats %s: %s", name, exc)

    return await nats.connect(
        servers=url.split(","),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=on_error,
        **options,
    )


async def _ensure(js: JetStreamContext, config: StreamConfig) -> None:
    assert config.name, "every stream declared here is named"
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", config.name)
        return
    await js.update_stream(config)


async def ensure_node_stream(
    js: JetStreamContext, hub: str, node: str, duplicate_window: float
) -> str:
    """The node's own event log: file storage, kept forever,
    duplicate window for exactly-once publish."""
    name = node_stream(hub, node)
    await _ensure(
        js,
        StreamConfig(
            name=name,
            subjects=[node_subjects(hub, node)],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            duplicate_window=duplicate_window,
            allow_direct=True,  # a node reads its last event per subject (shared/node_position.py)
        ),
    )
    return name


def node_source(hub: str, node: str, domains: bool) -> StreamSource:
    """Where the hub reads a node's stream: the same server,
    or the node's JetStream domain over its leaf link."""
    external = ExternalStream(api=f"$JS.{node}.API") if domains else None
    return StreamSource(name=node_stream(hub, node), external=external)


async def reachable_nodes(
    nc: Client, hub: str, nodes: list[str], timeout: float = 1.0
) -> list[str]:
    """Nodes whose stream answers in their own JetStream domain
    (their leaf link is up, stream made)."""
    found = []
    for node in nodes:
        try:
            await nc.jetstream(domain=node, timeout=timeout).stream_info(node_stream(hub, node))
        except Exception:  # not connected yet, no stream yet, or no responders: try again later
            continue
        found.append(node)
    return found


async def ensure_hub_stream(
    js: JetStreamContext, hub: str, nodes: list[str], duplicate_window: float, domains: bool = False
) -> str:
    """The hub's stream: no subjects of its own, one source per node stream.

    Sources listed before their node is reachable back off for tens of seconds in nats-server;
    with ``domains`` callers pass only reachable nodes and add the rest as they appear
    (``shared.sourcing.watch_node_sources``).
    """
    name = hub_stream(hub)
    await _ensure(
        js,
        StreamConfig(
            name=name,
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            duplicate_window=duplicate_window,
            allow_direct=True,
            sources=[node_source(hub, node, domains) for node in nodes],
        ),
    )
    return name


async def ensure_dlq_stream(js: JetStreamContext, hub: str) -> str:
    name = dlq_stream(hub)
    await _ensure(
        js,
        StreamConfig(
            name=name,
            subjects=[dlq_subjects(hub)],
            storage=StorageType.FILE,
            duplicate_window=24 * 3600,
        ),
    )
    return name


async def ensure_hub_topology(
    js: JetStreamContext, hub: str, nodes: list[str], duplicate_window: float, domains: bool = False
) -> None:
    """The hub's streams. On one server the node streams are made here too; with leaf nodes
    (`domains`) each node makes its own on its own server, and ``shared.sourcing`` adds each
    one to the hub stream once it is reachable."""
    if not domains:
        for node in nodes:
            await ensure_node_stream(js, hub, node, duplicate_window)
    await ensure_hub_stream(js, hub, [] if domains else nodes, duplicate_window, domains)
    await ensure_dlq_stream(js, hub)
