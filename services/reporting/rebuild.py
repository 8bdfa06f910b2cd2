"""Rebuild the projections by replaying the hub stream from its first message.

Projections are derived data: an empty reporting database fed the stream in order ends with the
same figures, the same stamp and the same hash-chain head as one that consumed it live. The
replay reads with an ephemeral, unacknowledged consumer in large batches (an operator task, run
with stream-admin rights while the live consumer is stopped); messages that were dead-lettered
live are refused again and counted, not re-published.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.subjects import PREFIX, hub_stream
from services.reporting.app import ReportingService
from services.reporting.handlers import stream_sequence
from services.reporting.services import Incoming


@dataclass
class RebuildResult:
    messages: int = 0
    applied: int = 0
    duplicates: int = 0
    refused: int = 0
    last_stream_seq: int = 0


async def rebuild(
    service: ReportingService,
    nc: Client,
    *,
    batch_size: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> RebuildResult:
    """Replay the hub stream up to its current last message into `service`'s (empty) database.

    `progress(done, total)` is called after each batch.
    """
    js = nc.jetstream()
    hub = service.settings.hub
    stream = hub_stream(hub)
    info = await js.stream_info(stream)
    last, total = info.state.last_seq, info.state.messages
    result = RebuildResult()
    if total == 0:
        return result
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=120, max_waiting=1
    )
    sub = await js.pull_subscribe(f"{PREFIX}.{hub}.>", durable=None, stream=stream, config=config)
    fetching = asyncio.create_task(_fetch(sub, batch_size))
    try:
        while result.last_stream_seq < last:
            msgs = await fetching
            fetching = asyncio.create_task(_fetch(sub, batch_size))  # the next batch arrives while this one applies
            if not msgs:
                continue
            batch = [Incoming(m.subject, m.data, stream_sequence(m)) for m in msgs]
            batch = [m for m in batch if m.stream_seq <= last]
            if not batch:
                break
            outcome = await service.ingest(batch)
            result.messages += len(batch)
            result.applied += outcome.applied
            result.duplicates += outcome.duplicates
            result.refused += len(outcome.dead)
            result.last_stream_seq = max(m.stream_seq for m in batch)
            if progress:
                progress(result.messages, total)
    finally:
        fetching.cancel()
        with contextlib.suppress(asyncio.CancelledError, nats.errors.Error):
            await fetching
        await sub.unsubscribe()
    return result


async def _fetch(sub: JetStreamContext.PullSubscription, batch_size: int) -> list[Msg]:
    """A batch, or nothing if none came within the wait."""
    try:
        return await sub.fetch(batch_size, timeout=2)
    except nats.errors.TimeoutError:
        return []
