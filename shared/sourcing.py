"""The hub operator's watcher: keeps the hub stream sourcing every node, and quickly again after a
NATS restart.

nats-server re-creates a source's consumer with a back-off that grows to tens of seconds when the
node's leaf link or the hub itself restarts (41 to 53 s measured before this watcher), although
the node answers again within a second or two. A healthy source hears from its node at least every
second (idle heartbeats), so a source whose node answers but which has heard nothing for
``STALLED_AFTER_SECONDS`` is stalled: the watcher re-arms it by taking it out of the hub stream's
configuration and putting it back, which makes the server create its consumer at once. The server
resumes a re-added source after the last message the hub stream holds from it, and the hub
stream's duplicate window drops any copy, so re-arming loses and doubles nothing
(docs/reliability.md, "NATS restarts").
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamSourceInfo

from shared.bus import ensure_hub_stream, reachable_nodes
from shared.subjects import hub_stream, node_stream

log = logging.getLogger(__name__)

STALLED_AFTER_SECONDS = 3.0
"""Silence after which a reachable node's source counts as stalled: three missed heartbeats."""
REARM_EVERY_SECONDS = 4.0
"""Least time between two re-arms of one source, so a re-armed source has time to start."""


def is_stalled(source: StreamSourceInfo) -> bool:
    """No consumer (``active`` -1) or no contact for longer than ``STALLED_AFTER_SECONDS``."""
    active = source.active
    return active is None or active < 0 or active > STALLED_AFTER_SECONDS * 1e9


@dataclass
class SourceWatcher:
    """What the watcher knows between rounds: the nodes sourced, and when each was last re-armed."""

    nc: Client
    hub: str
    nodes: list[str]
    duplicate_window: float
    sourced: list[str] = field(default_factory=list)
    rearmed_at: dict[str, float] = field(default_factory=dict)
    rearms: int = 0
    """Re-arms so far (logged, and read by tests)."""

    @property
    def js(self) -> JetStreamContext:
        return self.nc.jetstream()

    async def round(self) -> None:
        """Source every reachable node, then re-arm those whose source has stalled."""
        reachable = await reachable_nodes(self.nc, self.hub, self.nodes)
        wanted = [n for n in self.nodes if n in reachable or n in self.sourced]
        if wanted != self.sourced:
            await self._source(wanted)
            log.info("hub stream now sources %s", ", ".join(wanted))
        stalled = [n for n in await self._stalled() if n in reachable and self._may_rearm(n)]
        if stalled:
            await self._rearm(stalled)

    async def _source(self, nodes: list[str]) -> None:
        await ensure_hub_stream(self.js, self.hub, nodes, self.duplicate_window, domains=True)
        for node in set(nodes) - set(self.sourced):
            self.rearmed_at[node] = time.monotonic()  # a new source takes a moment to start
        self.sourced = nodes

    async def _stalled(self) -> list[str]:
        info = await self.js.stream_info(hub_stream(self.hub))
        node_of = {node_stream(self.hub, n): n for n in self.sourced}
        return [node_of[s.name] for s in info.sources or () if s.name in node_of and is_stalled(s)]

    def _may_rearm(self, node: str) -> bool:
        return time.monotonic() - self.rearmed_at.get(node, -REARM_EVERY_SECONDS) >= (
            REARM_EVERY_SECONDS
        )

    async def _rearm(self, nodes: list[str]) -> None:
        """Out of the configuration and back in: the server starts each source afresh, now."""
        keep = self.sourced
        await self._source([n for n in keep if n not in nodes])
        await self._source(keep)
        self.rearms += len(nodes)
        log.warning("hub stream: re-armed the stalled source of %s", ", ".join(nodes))


async def watch_node_sources(
    nc: Client,
    hub: str,
    nodes: list[str],
    duplicate_window: float,
    interval: float = 1.0,
    watcher: SourceWatcher | None = None,
) -> None:
    """Keep the hub stream sourcing every reachable node, re-arming stalled sources; runs until
    cancelled, through NATS outages (a round that fails is tried again)."""
    watcher = watcher or SourceWatcher(nc, hub, nodes, duplicate_window)
    while True:
        try:
            await watcher.round()
        except Exception as exc:  # the hub's NATS restarting: the connection reconnects by itself
            log.debug("source watcher: %s; trying again", exc or type(exc).__name__)
        _raise_if_cancelled()
        await asyncio.sleep(interval)


def _raise_if_cancelled() -> None:
    """End the watcher if it was cancelled during a round even though the round returned: before
    Python 3.12, ``asyncio.wait_for`` (inside nats-py's requests) can swallow a cancellation that
    lands as its wait ends, and the loop would then run on, holding up whoever awaits it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
