"""NATS subscriber of the reporting service: a FastStream batch pull consumer on the hub stream.

Batches keep ingest fast (one transaction per batch); the handler is thin: it turns the fetched
messages into ``Incoming`` records, has the ingest use case prepare and write them (one batch
written while the next is prepared and the one after fetched: `BatchPipeline`), dead-letters what
it refused, and acknowledges the batch with one ack of its last message (the durable acknowledges
all: reporting is its only consumer). A write that raises nacks the whole batch for redelivery,
which the idempotent ingest makes harmless; until it returns and commits, nothing after it is
written or acknowledged (`GivenBack`): a fetch made before the nack can bring later messages, and
acknowledging one of them would acknowledge the given-back batch too.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from faststream import Context
from faststream.middlewares import AckPolicy
from faststream.nats import ConsumerConfig, DeliverPolicy, JStream, NatsBroker, PullSub
from faststream.nats.message import NatsBatchMessage
from nats.aio.msg import Msg
from nats.js.api import AckPolicy as DurableAcks

from services.reporting.ingest.apply import Incoming, IngestOutcome
from services.reporting.ingest.position import ACK_WAIT_SECONDS
from shared.dead_letters import dead_letter_headers
from shared.memory import pause_collections, resume_collections
from shared.subjects import PREFIX, dlq_stream, dlq_subject, hub_stream

log = logging.getLogger(__name__)


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


Prepared = TypeVar("Prepared")
"""What the ingest use case makes of a fetched batch before writing it."""
DeadLetter = Callable[[IngestOutcome], Awaitable[None]]
SWEEP_EVERY = 10
"""Batches settled between sweeps of the young generation while batches are always in hand."""


@dataclass
class BatchPipeline(Generic[Prepared]):
    """The consumer's batches in three stages at once: batch n+2 is fetched while n+1 is prepared
    and n written. A batch is prepared as soon as it arrives; its write starts only once the batch
    before is written and acknowledged (or given back), so writes stay in stream order, one at a
    time, and each ack follows its commit. `take` returns once the batch before the one it takes is
    settled: at most two batches in hand. Where preparing and writing run in other processes
    (services/reporting/ingest/lanes.py), the three stages run at once."""

    prepare: Callable[[list[Incoming]], Awaitable[Prepared]]
    write: Callable[[Prepared, int | None], Awaitable[IngestOutcome]]
    dead_letter: DeadLetter
    batch_size: int
    given_back: GivenBack = field(default_factory=GivenBack)
    last: asyncio.Task[None] | None = None
    """The newest batch's course: prepared, then written once the batch before it is settled."""
    held: list[Msg] = field(default_factory=list)
    """A small fetch kept back while a write goes on, to go with the next (`take`)."""
    settled_batches: int = 0
    closing: bool = False
    """Set as the service stops: batches not yet writing are neither written nor acknowledged (the
    durable delivers them again at the next start)."""

    async def take(self, messages: list[Msg]) -> None:
        """Start preparing a fetched batch, and writing it once the batch before is settled.

        A fetch cut short by its wait (half a batch or less) while a write goes on is held and goes
        with the next, or alone once that write is settled: prepared alone, it would leave the next
        full batch nothing to be prepared beside but its own short write."""
        if self.closing:
            return
        self.held.extend(messages)
        if len(self.held) * 2 <= self.batch_size and self.last is not None and not self.last.done():
            return
        before = self._start_held()
        if before is not None:
            await asyncio.wait([before])

    def _start_held(self) -> asyncio.Task[None] | None:
        """Start the held messages' course as the newest batch; return the one before it.
        Collections pause until the course ends (`_start_if_held`): each would re-scan and promote
        the batches in hand, for no garbage (shared/memory.py)."""
        ordered = sorted(self.held, key=stream_sequence)
        self.held = []
        pause_collections()
        preparing = asyncio.ensure_future(self.prepare(_incoming(ordered)))
        before, self.last = (
            self.last,
            asyncio.create_task(self._settle(self.last, ordered, preparing), name="writing"),
        )
        self.last.add_done_callback(self._start_if_held)
        return before

    def _start_if_held(self, settled: asyncio.Task[None]) -> None:
        """Once a batch is settled (its course ended, what it held freed), collections resume
        unless another batch is in hand, in which case every SWEEP_EVERY batches the young
        generation is swept, so that the little cyclic garbage a batch leaves cannot add up. Once
        the newest batch is settled, what was held for the next fetch goes alone."""
        resume_collections()
        self.settled_batches += 1
        if not gc.isenabled() and self.settled_batches % SWEEP_EVERY == 0:
            gc.collect(0)
        if self.held and settled is self.last and not self.closing:
            self._start_held()

    async def close(self) -> None:
        """Write no more batches; return once the one being written is settled."""
        self.closing = True
        await self.settled()

    async def settled(self) -> None:
        """Return once every batch taken is acknowledged, given back or, closing, dropped."""
        while self.last is not None and not self.last.done():
            await asyncio.wait([self.last])

    async def _settle(
        self,
        before: asyncio.Task[None] | None,
        ordered: list[Msg],
        preparing: asyncio.Future[Prepared],
    ) -> None:
        """Once the batch before is settled, write what may be written of this one and acknowledge
        it by its last message (the durable's ack policy is AckAll); give back the rest
        (`GivenBack`), and all of it if preparing or writing raised. With NATS gone, neither: the
        durable delivers the batch again after its ack wait, or at once to the next start
        (``position.align_durable``)."""
        if before is not None:
            await asyncio.wait([before])
        await asyncio.wait([preparing])
        if self.closing:
            _drop(preparing)
            return
        try:
            now, later = self.given_back.writable(ordered)
            if later:
                log.info(
                    "held back %d messages behind stream seq %d, given back",
                    len(later),
                    min(self.given_back.owed),
                )
                await self.given_back.give_back(later)
            if now:
                await self._write(now, preparing, len(now) < len(ordered))
        except Exception as exc:  # NATS gone: the durable delivers the batch again
            log.warning("could not settle a batch with NATS: %s", exc)

    async def _write(
        self, messages: list[Msg], preparing: asyncio.Future[Prepared], part: bool
    ) -> None:
        try:
            if part:  # rare: part of the batch given back, so that part is prepared again
                _drop(preparing)
            prepared = await (self.prepare(_incoming(messages)) if part else preparing)
            outcome = await self.write(prepared, stream_pending(messages[-1]))
            await self.dead_letter(outcome)
        except Exception:
            log.exception(
                "writing hub stream seq %d-%d failed; given back",
                stream_sequence(messages[0]),
                stream_sequence(messages[-1]),
            )
            await self.given_back.give_back(messages)
            return
        self.given_back.committed(messages)
        await messages[-1].ack()


def _drop(preparing: asyncio.Future[Any]) -> None:
    """A batch's preparation not to be written: its failure, if it failed, is not an error."""
    if not preparing.cancelled():
        preparing.exception()


def _incoming(messages: list[Msg]) -> list[Incoming]:
    return [Incoming(m.subject, m.data, stream_sequence(m), m.headers) for m in messages]


async def _keep_raw(message: Any) -> Any:
    """Skip FastStream's JSON decoding: validation (and dead-lettering) is ours to do."""
    return None


def subscribe_hub_events(
    broker: NatsBroker,
    hub: str,
    durable: str,
    batch_size: int,
    timeout: float,
    prepare: Callable[[list[Incoming]], Awaitable[Prepared]],
    write: Callable[[Prepared, int | None], Awaitable[IngestOutcome]],
) -> BatchPipeline[Prepared]:
    """Register the hub-stream consumer on `broker`; what it returns holds the batches in hand
    (to be closed before the service stops)."""

    async def dead_letter(outcome: IngestOutcome) -> None:
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

    batches = BatchPipeline(prepare, write, dead_letter, batch_size)

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
        ack_policy=AckPolicy.MANUAL,  # `BatchPipeline`: one ack a batch, once it is written
        decoder=_keep_raw,
        title=f"{hub} hub events",
        description=(
            "Every node's events, sourced into the hub stream; "
            "applied to the reporting projections."
        ),
    )
    async def on_hub_events(message: Annotated[NatsBatchMessage, Context("message")]) -> None:
        await batches.take(message.raw_message)

    return batches
