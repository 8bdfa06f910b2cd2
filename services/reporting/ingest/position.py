"""Reporting owns its position in the hub stream: its database says where to resume,
not the durable.

The durable consumer's acknowledgement floor lives in NATS and the projections in the database;
after a restore (or an older copy of the database, or a rebuild into a fresh one) the two differ.
Before the consumer starts, ``align_durable`` moves the durable back to the first message the
database has not applied (``ingest_position.stream_seq + 1``), so the events in between are
delivered again and nothing between the backup and the durable's floor is lost; ``applied_event``
deduplication keeps re-delivered events from counting twice. A database ahead of the stream (the
wrong stream, a server that lost its store) is refused with both positions named.

A consumer that died (SIGKILL, a crash, a lost machine) leaves the messages it had fetched pending
until their ack wait runs out; meanwhile the durable hands the restarted reporting the messages
after them, so it would apply events out of order and its stamp would name a stream position with
a hole below it. Reporting is the durable's only consumer, so at start any messages still pending
belong to a dead one: ``align_durable`` then also recreates the durable, from its acknowledgement
floor, and the restarted reporting takes them in at once, in order (the ones the dead consumer had
already applied are skipped as duplicates).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting.models import HUB_POSITION, IngestPositionRow
from shared.subjects import PREFIX

log = logging.getLogger(__name__)

ACK_WAIT_SECONDS = 15
"""How long a fetched message may stay unacknowledged before it is delivered again: a live consumer
that stalls (a stuck connection, a hung database) gives its batch back after this; a dead one's is
taken back at once when reporting restarts (``align_durable``). Fifteen times a batch of 5,000
(about a second; docs/benchmarks.md), so a slow batch is not handed out twice."""


class DatabaseAheadOfStream(RuntimeError):
    """The reporting database has applied stream positions the hub stream does not have."""


@dataclass(frozen=True)
class Alignment:
    """What ``align_durable`` found and did."""

    database_seq: int
    stream_last_seq: int
    durable_floor: int | None
    """The durable's acknowledgement floor before aligning (None: no durable)."""
    recreated: bool
    in_flight: int = 0
    """Messages a previous consumer had fetched and not acknowledged (taken back when recreated)."""


def consumer_config(hub: str, durable: str, batch_size: int, start_seq: int = 0) -> ConsumerConfig:
    """The durable's settings; the one place the live consumer's and the aligner's agree."""
    policy = DeliverPolicy.BY_START_SEQUENCE if start_seq > 1 else DeliverPolicy.ALL
    return ConsumerConfig(
        durable_name=durable,
        deliver_policy=policy,
        opt_start_seq=start_seq if start_seq > 1 else None,
        ack_policy=AckPolicy.ALL,  # the consumer acknowledges each batch by its last message
        filter_subject=f"{PREFIX}.{hub}.>",
        ack_wait=ACK_WAIT_SECONDS,
        max_deliver=-1,
        max_ack_pending=batch_size * 4,
    )


async def database_position(sessions: async_sessionmaker[AsyncSession]) -> int:
    """The last hub stream sequence the database has taken in (0 for a fresh one)."""
    async with sessions() as session:
        row = await session.get(IngestPositionRow, HUB_POSITION)
        return row.stream_seq if row is not None else 0


async def align_durable(
    js: JetStreamContext, stream: str, hub: str, durable: str, batch_size: int, database_seq: int
) -> Alignment:
    """Make the durable deliver from ``database_seq + 1`` when it stands past the database, and from
    its own floor when a dead consumer left messages in flight.

    A floor at or behind the database with nothing in flight is left alone: whatever it re-delivers
    is a duplicate (and a batch refused earlier, then redelivered, is not skipped).
    """
    last = (await js.stream_info(stream)).state.last_seq
    if database_seq > last:
        raise DatabaseAheadOfStream(
            f"the reporting database is at hub stream sequence {database_seq} but stream {stream} "
            f"ends at {last}: wrong stream or a server that lost its store; restore the stream or "
            "rebuild reporting (deploy/RUNBOOK.md)"
        )
    floor, in_flight, current = await _durable_state(js, stream, durable)
    if floor is None:
        if database_seq == 0:  # the consumer creates it from the start
            return Alignment(database_seq, last, floor, recreated=False)
        start = database_seq + 1
    elif floor <= database_seq and not in_flight and current:
        return Alignment(database_seq, last, floor, recreated=False)
    else:
        start = min(floor, database_seq) + 1
        await js.delete_consumer(stream, durable)
    await js.add_consumer(stream, consumer_config(hub, durable, batch_size, start))
    log.warning(
        "reporting resumes from hub stream sequence %s (database at %s, durable's floor %s, "
        "%s in flight)",
        start,
        database_seq,
        floor,
        in_flight,
    )
    return Alignment(database_seq, last, floor, recreated=True, in_flight=in_flight)


async def _durable_state(
    js: JetStreamContext, stream: str, durable: str
) -> tuple[int | None, int, bool]:
    """The durable's acknowledgement floor, its unacknowledged messages and whether it has today's
    settings (None, 0, False: no durable). A durable made by an older release is recreated too:
    one with a 60 s ack wait, or acknowledging each message (NATS cannot change a durable's ack
    policy in place)."""
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return None, 0, False
    config = info.config
    current = config.ack_wait == ACK_WAIT_SECONDS and config.ack_policy == AckPolicy.ALL
    return info.ack_floor.stream_seq, info.num_ack_pending or 0, current
