"""NATS subscriber of the reporting service: a FastStream batch pull consumer on the hub stream.

Batches keep ingest fast (one transaction per batch); the handler is thin: it turns the fetched
messages into ``Incoming`` records, calls the ingest use case, dead-letters what it refused, and
acknowledges the batch with one ack of its last message (the durable acknowledges all: reporting is
its only consumer). Any exception nacks the whole batch for redelivery, which the idempotent ingest
makes harmless; until it returns and commits, nothing after it is written or acknowledged
(`GivenBack`): a fetch made before the nack can bring later messages, and acknowledging one of them
would acknowledge the given-back batch too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
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
Ingested = Callable[[list[Msg]], Awaitable[None]]


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


@dataclass
class GivenBack:
    """Stream sequences given back (nacked) and not yet committed. The durable acknowledges all: an
    ack of any later message would acknowledge them too, never applied. So while any is owed,
    only the messages before the first owed one a batch lacks are written; the rest are given back
    too (a redelivery can come split across fetches, and after later messages)."""

    owed: set[int] = field(default_factory=set)

    def writable(self, messages: list[Msg]) -> tuple[list[Msg], list[Msg]]:
        """The batch in stream order, split into what may be written now and what goes back."""
        ordered = sorted(messages, key=stream_sequence)
        if not self.owed:  # the usual batch: nothing given back
            return ordered, []
        missing = self.owed.difference(map(stream_sequence, ordered))
        if not missing:
            return ordered, []
        first = min(missing)
        kept = [m for m in ordered if stream_sequence(m) < first]
        return kept, ordered[len(kept) :]

    async def give_back(self, messages: list[Msg]) -> None:
        for m in messages:
            await m.nak()
        self.owed.update(map(stream_sequence, messages))

    def committed(self, messages: list[Msg]) -> None:
        if self.owed:  # the usual batch: nothing was owed
            self.owed.difference_update(map(stream_sequence, messages))


async def settle_batch(given_back: GivenBack, messages: list[Msg], write: Ingested) -> None:
    """Write what may be written of a batch and acknowledge it by its last message (the durable's
    ack policy is AckAll); give back the rest, and the whole batch if the write raised. Cancelled
    (the service stopping): neither, so the durable delivers the batch again after its ack wait,
    or at once to the next start (``position.align_durable``)."""
    now, later = given_back.writable(messages)
    if later:
        log.info(
            "held back %d messages behind stream seq %d, given back",
            len(later),
            min(given_back.owed),
        )
        await given_back.give_back(later)
    if not now:
        return
    try:
        await write(now)
    except Exception:
        await given_back.give_back(now)
        raise
    given_back.committed(now)
    await now[-1].ack()


async def _keep_raw(message: Any) -> Any:
    """Skip FastStream's JSON decoding: validation (and dead-lettering) is ours to do."""
    return None


def subscribe_hub_events(
    broker: NatsBroker, hub: str, durable: str, batch_size: int, timeout: float, ingest: Ingest
) -> None:
    """Register the hub-stream consumer on `broker`."""
    given_back = GivenBack()

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
        ack_policy=AckPolicy.MANUAL,  # `settle_batch`: one ack a batch, not one a message
        decoder=_keep_raw,
        title=f"{hub} hub events",
        description=(
            "Every node's events, sourced into the hub stream; "
            "applied to the reporting projections."
        ),
    )
    async def on_hub_events(message: Annotated[NatsBatchMessage, Context("message")]) -> None:
        await settle_batch(given_back, message.raw_message, _ingest)

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
