"""NATS subscriber of the reporting service: a FastStream batch pull consumer on the hub stream.

Batches keep ingest fast (one transaction per batch); the handler is thin: it turns the fetched
messages into ``Incoming`` records, calls the ingest use case, dead-letters what it refused, and
acknowledges the batch with one ack of its last message (the durable acknowledges all: a batch is
fetched in stream order by reporting, its only consumer). Any exception nacks the whole batch for
redelivery, which the idempotent ingest makes harmless.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from faststream import Context
from faststream.middlewares import AckPolicy
from faststream.nats import ConsumerConfig, DeliverPolicy, JStream, NatsBroker, PullSub
from faststream.nats.message import NatsBatchMessage
from nats.aio.msg import Msg
from nats.js.api import AckPolicy as DurableAcks

from services.reporting.ingest.apply import Incoming, IngestOutcome
from services.reporting.ingest.position import ACK_WAIT_SECONDS
from shared.dead_letters import dead_letter_headers
from shared.subjects import PREFIX, dlq_stream, dlq_subject, hub_stream

log = logging.getLogger(__name__)

Ingest = Callable[[list[Incoming], int | None], Awaitable[IngestOutcome]]


def stream_sequence(msg: Msg) -> int:
    """The message's sequence in the hub stream, read from its ack subject without
    building metadata.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.…`` (9 tokens) or, with a domain and account
    hash, ``$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>.…`` (12 tokens).
    """
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9:
        return int(tokens[5])
    if len(tokens) >= 12:
        return int(tokens[7])
    return int(msg.metadata.sequence.stream)


def stream_pending(msg: Msg) -> int | None:
    """Messages in the stream beyond this one not yet delivered to the consumer (its lag), read from
    the ack subject as `stream_sequence` reads the sequence: its last token but one, or the last."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9:
        return int(tokens[8])
    if len(tokens) >= 12:
        return int(tokens[10])
    return None


@contextlib.asynccontextmanager
async def _settle(messages: list[Msg]) -> AsyncIterator[None]:
    """Acknowledge a batch handled without an exception by its last message (the durable's ack
    policy is AckAll); nack each message of one that raised, for redelivery. Cancelled (the service
    stopping): neither, so the durable delivers the batch again after its ack wait, or at once to
    the next start (``position.align_durable``)."""
    try:
        yield
    except Exception:
        for m in messages:
            await m.nak()
        raise
    await messages[-1].ack()


async def _keep_raw(message: Any) -> Any:
    """Skip FastStream's JSON decoding: validation (and dead-lettering) is ours to do."""
    return None


def subscribe_hub_events(
    broker: NatsBroker, hub: str, durable: str, batch_size: int, timeout: float, ingest: Ingest
) -> None:
    """Register the hub-stream consumer on `broker`."""

    @broker.subscriber(
        f"{PREFIX}.{hub}.>",
        stream=JStream(hub_stream(hub), declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=batch_size, timeout=timeout, batch=True),
        config=ConsumerConfig(
            ack_policy=DurableAcks.ALL,  # as position.consumer_config makes it
            ack_wait=ACK_WAIT_SECONDS,
            max_deliver=-1,
            max_ack_pending=batch_size * 4,
        ),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.MANUAL,  # `_settle`: one ack a batch, not one a message
        decoder=_keep_raw,
        title=f"{hub} hub events",
        description=(
            "Every node's events, sourced into the hub stream; "
            "applied to the reporting projections."
        ),
    )
    async def on_hub_events(message: Annotated[NatsBatchMessage, Context("message")]) -> None:
        async with _settle(message.raw_message):
            await _ingest(message.raw_message)

    async def _ingest(messages: list[Msg]) -> None:
        batch = [Incoming(m.subject, m.data, stream_sequence(m), m.headers) for m in messages]
        outcome = await ingest(batch, stream_pending(messages[-1]))
        for incoming, reason in outcome.dead:
            log.warning("dead-lettered hub stream seq %s: %s", incoming.stream_seq, reason)
            await broker.publish(
                incoming.data,
                dlq_subject(hub, durable),
                headers=dead_letter_headers(
                    durable, reason, incoming.subject, incoming.stream_seq, incoming.headers
                ),
                stream=dlq_stream(hub),
            )
