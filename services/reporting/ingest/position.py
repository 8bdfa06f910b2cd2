"""Reporting owns its position in the hub stream: its database says where to resume,
not the durable.

The durable consumer's acknowledgement floor lives in NATS and the projections in the database;
after a restore (or an older copy of the database, or a rebuild into a fresh one) the two differ.
Before the consumer starts, ``align_durable`` moves the durable back to the first message the
database has not applied (``ingest_position.stream_seq + 1``), so the events in between are
delivered again and nothing between the backup and the durable's floor is lost; ``applied_event``
deduplication keeps re-delivered events from counting twice. A database ahead of the stream (the
wrong stream, a server that lost its store) is refused with both positions named.
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

ACK_WAIT_SECONDS = 60


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


def consumer_config(hub: str, durable: str, batch_size: int, start_seq: int = 0) -> ConsumerConfig:
    """The durable's settings; the one place the live consumer's and the aligner's agree."""
    policy = DeliverPolicy.BY_START_SEQUENCE if start_seq > 1 else DeliverPolicy.ALL
    return ConsumerConfig(
        durable_name=durable,
        deliver_policy=policy,
        opt_start_seq=start_seq if start_seq > 1 else None,
        ack_policy=AckPolicy.EXPLICIT,
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
    """Make the durable deliver from ``database_seq + 1`` when it stands past the database.

    A floor at or behind the database is left alone: whatever it re-delivers is a duplicate
    (and a batch refused earlier, then redelivered, is not skipped).
    """
    last = (await js.stream_info(stream)).state.last_seq
    if database_seq > last:
        raise DatabaseAheadOfStream(
            f"the reporting database is at hub stream sequence {database_seq} but stream {stream} "
            f"ends at {last}: wrong stream or a server that lost its store; restore the stream or "
            "rebuild reporting (deploy/RUNBOOK.md)"
        )
    try:
        floor: int | None = (await js.consumer_info(stream, durable)).ack_floor.stream_seq
    except NotFoundError:
        floor = None
    if floor is not None and floor <= database_seq:
        return Alignment(database_seq, last, floor, recreated=False)
    if floor is None and database_seq == 0:
        return Alignment(
            database_seq, last, floor, recreated=False
        )  # the consumer creates it from the start
    if floor is not None:
        await js.delete_consumer(stream, durable)
    await js.add_consumer(stream, consumer_config(hub, durable, batch_size, database_seq + 1))
    log.warning(
        "reporting resumes from hub stream sequence %s (its database), "
        "not %s (the durable's floor)",
        database_seq + 1,
        floor,
    )
    return Alignment(database_seq, last, floor, recreated=True)
