"""What an operator watches of the hub-stream consumer, recorded once per batch, never per event:
events by outcome, batch time, lag behind the hub stream, dead letters by kind of reason, and the
projections' age."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from opentelemetry.metrics import CallbackOptions, Observation
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting.ingest.apply import IngestOutcome
from services.reporting.models import ProducerPositionRow
from shared.telemetry import SECONDS_BUCKETS, Telemetry

log = logging.getLogger(__name__)

REASON_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("too_large", ("-byte limit",)),
    ("malformed", ("envelope invalid",)),
    ("invalid_payload", ("payload of ",)),
    ("unknown_type", ("unknown event type", "unknown version", "no upcaster")),
    ("subject_mismatch", ("is not an event subject", "does not match envelope")),
    ("wrong_hub", ("arrived at hub",)),
    ("service_not_allowed", ("may not publish",)),
    ("unsigned", ("unsigned event",)),
    ("unknown_node", ("no public key registered",)),
    ("bad_signature", ("signature", "proof", "not in the batch")),
    ("id_reused", ("with different content",)),
    ("sequence_reused", ("reused by event",)),
    ("node_not_allowed", ("(published by ",)),
    ("rejected_by_projection", ("rejected by projection",)),
)
"""A dead letter's reason is free text (it may quote the message); its metric label is one of these
kinds, found by what each reason says (services/reporting/ingest/apply.py, shared/envelope.py,
shared/signing.py), or ``other``."""


def reason_kind(reason: str) -> str:
    """The closed-set label of a dead letter's reason."""
    for kind, marks in REASON_KINDS:
        if any(mark in reason for mark in marks):
            return kind
    return "other"


class IngestMetrics:
    """The consumer's instruments, on the reporting service's own meter provider."""

    def __init__(self, telemetry: Telemetry) -> None:
        meter = telemetry.meter("hub-ledger.reporting")
        self.events = meter.create_counter(
            "hub.reporting.events",
            unit="{event}",
            description="Hub stream messages ingested by outcome: applied, duplicate, dead_letter.",
        )
        self.batch_time = meter.create_histogram(
            "hub.reporting.batch.duration",
            unit="s",
            description="Preparing and writing one fetched batch.",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )
        self.dead_letters = meter.create_counter(
            "hub.reporting.dead_letters", unit="{event}", description="Dead letters by reason."
        )
        for kind in [*(kind for kind, _ in REASON_KINDS), "other"]:
            self.dead_letters.add(0, {"reason": kind})  # from 0: increase() misses a first 1
        self.lag = meter.create_gauge(
            "hub.reporting.lag",
            unit="{event}",
            description="Hub stream messages not yet delivered to the consumer after its batch.",
        )
        meter.create_observable_gauge(
            "hub.reporting.projection.age",
            callbacks=[self._age],
            unit="s",
            description="Since the newest applied event was recorded at its node.",
        )
        self.newest: float | None = None
        """Epoch seconds at which the newest applied event was recorded."""

    def arrived(self, pending: int | None) -> None:
        """A batch fetched with `pending` messages behind it in the stream: recorded before it is
        applied, so the lag still moves while batches fail (and are redelivered)."""
        if pending is not None:
            self.lag.set(pending)

    def batch(self, outcome: IngestOutcome, seconds: float) -> None:
        """One batch ingested in `seconds`."""
        self.events.add(outcome.applied, {"outcome": "applied"})
        self.events.add(outcome.duplicates, {"outcome": "duplicate"})
        self.events.add(len(outcome.dead), {"outcome": "dead_letter"})
        for _, reason in outcome.dead:
            self.dead_letters.add(1, {"reason": reason_kind(reason)})
        self.batch_time.record(seconds)
        if outcome.newest_recorded_at is not None:
            self.saw(outcome.newest_recorded_at)

    def saw(self, recorded_at: datetime) -> None:
        if recorded_at.tzinfo is None:  # SQLite hands back UTC without its zone
            recorded_at = recorded_at.replace(tzinfo=UTC)
        self.newest = max(self.newest or 0.0, recorded_at.timestamp())

    def _age(self, _options: CallbackOptions) -> Iterable[Observation]:
        if self.newest is None:
            return []
        return [Observation(max(time.time() - self.newest, 0.0))]

    async def read_newest(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """At start: the age of what the database already holds (none applied yet: no age). A
        database that does not answer leaves it to the first batch: consuming matters more."""
        try:
            async with sessions() as session:
                query = select(func.max(ProducerPositionRow.last_recorded_at))
                newest = await session.scalar(query)
        except SQLAlchemyError as exc:
            log.warning("projection age unknown until the next batch: %s", exc)
            return
        if newest is not None:
            self.saw(newest)
