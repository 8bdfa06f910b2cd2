"""NATS connections and the JetStream streams the system relies on.

Streams are declared from code in the embedded setup (``declare_streams``); in production
they are provisioned by operators from ``deploy/`` and services only attach.
"""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamSource
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
        **options,  # type: ignore[arg-type]
    )


async def _ensure(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.stream_info(config.name)  # type: ignore[arg-type]
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", config.name)
        return
    await js.update_stream(config)


async def ensure_node_stream(js: JetStreamContext, hub: str, node: str, duplicate_window: float) -> str:
    """The node's own event log: file storage, kept forever, duplicate window for exactly-once publish."""
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
        ),
    )
    return name


async def ensure_hub_stream(js: JetStreamContext, hub: str, nodes: list[str], duplicate_window: float) -> str:
    """The hub's stream: no subjects of its own, one source per node stream."""
    name = hub_stream(hub)
    await _ensure(
        js,
        StreamConfig(
            name=name,
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            duplicate_window=duplicate_window,
            sources=[StreamSource(name=node_stream(hub, node)) for node in nodes],
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


async def ensure_hub_topology(js: JetStreamContext, hub: str, nodes: list[str], duplicate_window: float) -> None:
    """Every stream of a single-server hub: one per node, the hub stream sourcing them, dead letters."""
    for node in nodes:
        await ensure_node_stream(js, hub, node, duplicate_window)
    await ensure_hub_stream(js, hub, nodes, duplicate_window)
    await ensure_dlq_stream(js, hub)
