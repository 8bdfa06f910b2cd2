"""The hub-stream consumer: the live ingest use case and its performance policy (worker share,
GC pauses, checkpointer, warm-up), apart from the wiring in services/reporting/app.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faststream.nats import NatsBroker
from opentelemetry.trace import Span, Tracer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.reporting.ingest.apply import (
    Incoming,
    IngestOutcome,
    IngestTimings,
    PreparedBatch,
    apply_batch,
    clock,
    prepare_batch,
)
from services.reporting.ingest.audit import StreamMessage, stream_fetcher
from services.reporting.ingest.handlers import BatchPipeline, subscribe_hub_events
from services.reporting.ingest.lanes import Lanes, Staged
from services.reporting.ingest.metrics import IngestMetrics
from services.reporting.ingest.position import align_durable, database_position
from services.reporting.ingest.preparing import FEWEST_TO_SHARE, ParallelPreparer, default_workers
from services.reporting.read import versioned
from services.reporting.read.catalogue import warm_views
from services.reporting.read.params import ViewParams
from services.reporting.read.views import year_rows
from services.reporting.settings import ReportingSettings, reporting_database_url
from shared.bus import connect, ensure_hub_topology
from shared.compat import fast_header_parsing, fix_idle_fetch_timeout, quick_next_msg
from shared.db import (
    WalCheckpointer,
    create_engine,
    database_status,
    migrate,
    migrate_when_possible,
    session_factory,
)
from shared.memory import collections_paused, fewer_collections
from shared.relay import failure_reason
from shared.settings import HubSettings
from shared.signing import NodeKeys, load_node_keys
from shared.subjects import hub_stream
from shared.telemetry import Telemetry

Warm = Callable[[async_sessionmaker[AsyncSession], str, list[str], str], Awaitable[None]]
"""Computes a layer's figures for a period ahead of its first visitor (the dashboard's pages)."""

BROKER_LOG = logging.getLogger("services.reporting.broker")
log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parents[1] / "migrations"
HERE_SHARE = 0.5
"""Of each batch the consumer prepares with a worker, the part it prepares itself: half beat 0.4,
0.45, 0.6 and no worker in a same-hour comparison (docs/benchmarks.md, "Batch signatures")."""


@dataclass
class ReportingService:
    """The hub's reporting service: consumes the hub stream into projections and answers queries."""

    settings: HubSettings
    own: ReportingSettings
    nats_url: str
    warm_also: Sequence[Warm] = ()
    """Warmed after the views, each period (the dashboard's pages, given by
    services/reporting/app.py)."""
    telemetry: Telemetry = field(default_factory=Telemetry.quiet)
    """Its spans and metrics (`service_telemetry`, as services/reporting/app.py gives them)."""
    engine: AsyncEngine = field(init=False)
    read_engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    read_sessions: async_sessionmaker[AsyncSession] = field(init=False)
    figures: versioned.VersionedCache = field(default_factory=versioned.VersionedCache, init=False)
    """Views computed once per data version, shared by every read session
    (services/reporting/read/versioned.py)."""
    held_years: year_rows.YearRows = field(default_factory=year_rows.YearRows, init=False)
    """Years of participations held between data versions
    (services/reporting/read/views/year_rows.py)."""
    broker: NatsBroker | None = field(default=None, init=False)
    keys: NodeKeys | None = field(default=None, init=False)
    warmer: versioned.Warmer = field(init=False)
    checkpointer: WalCheckpointer = field(init=False)
    """Copies the SQLite log back into the database beside the consumer, not in its way."""
    timings: IngestTimings = field(default_factory=IngestTimings, init=False)
    """Where the live consumer's time goes (``hub bench`` reports it)."""
    preparer: ParallelPreparer | None = field(default=None, init=False)
    """While consuming with node keys, on a machine with a core to spare: a worker process that
    prepares half of each batch beside this one (checking a signature is most of preparing),
    started by the first batch large enough to share (a quiet stream never needs one)."""
    lanes: Lanes | None = field(default=None, init=False)
    """While consuming, on a machine with a core to spare: two processes that prepare and write
    alternate batches while this one fetches (services/reporting/ingest/lanes.py), started by the
    first batch large enough to share."""
    metrics: IngestMetrics = field(init=False)
    _batches: BatchPipeline[PreparedBatch | Staged] | None = field(default=None, init=False)
    _uses_lanes: bool = field(default=False, init=False)
    _tracer: Tracer | None = field(default=None, init=False)
    _shares_batches: bool = field(default=False, init=False)
    _consuming: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        url = reporting_database_url(self.settings, self.own)
        self.engine = create_engine(url, checkpoints_elsewhere=True)
        self.read_engine = create_engine(url, writer=False)
        self.telemetry.instrument_engine(self.engine)
        self.telemetry.instrument_engine(self.read_engine)
        self.metrics = IngestMetrics(self.telemetry)
        if self.telemetry.traced:
            self._tracer = self.telemetry.tracer("hub-ledger.reporting")
        self.checkpointer = WalCheckpointer(self.read_engine)
        self.sessions = session_factory(self.engine)
        self.read_sessions = session_factory(
            self.read_engine,
            {versioned.SESSION_KEY: self.figures, year_rows.SESSION_KEY: self.held_years},
        )
        self.warmer = versioned.Warmer(self.warm, self.own.warm_after_seconds)
        self.keys = load_node_keys(self.own.node_keys_file, self.settings.secrets_dir)

    async def warm(self, period: str | None = None) -> None:
        """Compute every view and the dashboard's own figures for `period` (default: the default
        period), hub-wide, so their first visitor is served (docs/reporting.md)."""
        period = period or ViewParams.default_period()
        await warm_views(self.read_sessions, self.settings.hub, self.settings.nodes, period)
        for warm in self.warm_also:
            await warm(self.read_sessions, self.settings.hub, self.settings.nodes, period)

    async def ingest(self, batch: list[Incoming], pending: int | None = None) -> IngestOutcome:
        """Prepare and write a batch (the live consumer does the two in turn for each batch,
        fetching and preparing the next while one is written: `BatchPipeline`); `pending`: what the
        stream holds beyond it (the consumer's lag, for the metrics)."""
        with collections_paused():  # until the batch is written and freed (`write`)
            outcome = await self.write(await self.prepare_fetched(batch), pending)
        return outcome

    async def prepare_fetched(self, batch: list[Incoming]) -> PreparedBatch | Staged:
        """Check and project a fetched batch: in a lane (which writes it too), or here (half in a
        worker, with `prepare_in_worker`)."""
        started = clock()
        lanes = self._lanes_for(batch)
        if lanes is not None:
            staged = await lanes.prepare(batch)
            self.timings.prepared(started, clock())
            return staged
        with collections_paused():
            preparer = self._preparer_for(batch)
            prepared = await preparer.prepare(batch) if preparer else self.prepare(batch)
        self.timings.prepared(started, clock())
        return prepared

    async def write(
        self, prepared: PreparedBatch | Staged, pending: int | None = None
    ) -> IngestOutcome:
        """Write a prepared batch: in the lane that prepared it, or here."""
        started = clock()
        self.metrics.arrived(pending)
        events = len(prepared.batch)
        with self._batch_span(events) as span:
            if isinstance(prepared, Staged):
                assert self.lanes is not None  # they staged it
                outcome = await self._warming_after(self.lanes.write(prepared))
            else:
                with collections_paused():
                    outcome = await self.apply(prepared)
                    # freed before collections resume, or the next allocation has the collector
                    # scan the whole batch (and promote it) for no garbage
                    del prepared
            _describe(span, outcome)
        ended = clock()
        self.timings.written(events, started, ended, self.lanes.cpu_seconds if self.lanes else 0.0)
        self.metrics.batch(outcome, ended[0] - started[0])
        if outcome.applied:
            # not in `apply`: a rebuild writes without the log and checkpoints once at its end
            self.checkpointer.poke()
        return outcome

    def _lanes_for(self, batch: Sequence[Incoming]) -> Lanes | None:
        if self.lanes is None and self._uses_lanes and len(batch) >= FEWEST_TO_SHARE:
            self.lanes = self.new_lanes()
        return self.lanes

    def new_lanes(self, *, bulk: bool = False) -> Lanes:
        """Two lanes on this service's database, checking with its keys (`bulk`: a rebuild's)."""
        url = reporting_database_url(self.settings, self.own)
        return Lanes(self.settings.hub, self.keys, url, self.settings.nodes, bulk=bulk)

    def _preparer_for(self, batch: Sequence[Incoming]) -> ParallelPreparer | None:
        if self.preparer is None and self._shares_batches and len(batch) >= FEWEST_TO_SHARE:
            self.preparer = ParallelPreparer(
                self.settings.hub, self.keys, workers=1, here_share=HERE_SHARE
            )
        return self.preparer

    def prepare(self, batch: Sequence[Incoming]) -> PreparedBatch:
        """Check and project a batch in this process (services/reporting/ingest/preparing.py does it
        in workers)."""
        return prepare_batch(batch, self.settings.hub, self.keys, self._tracer)

    def _batch_span(self, size: int) -> contextlib.AbstractContextManager[Span | None]:
        """A span per batch when spans go somewhere (each event's own is made as it is prepared)."""
        if self._tracer is None:
            return contextlib.nullcontext()
        return self._tracer.start_as_current_span(
            "ingest batch", attributes={"messaging.batch.message_count": size}
        )

    async def apply(self, prepared: PreparedBatch) -> IngestOutcome:
        """Write a prepared batch here (prepared here by `ingest`, or in worker processes by
        services/reporting/ingest/preparing.py)."""
        with collections_paused():
            return await self._warming_after(
                apply_batch(prepared, self.sessions, self.settings.nodes)
            )

    async def _warming_after(self, writing: Awaitable[IngestOutcome]) -> IngestOutcome:
        """The warm-up held while a batch is written, and due again once it has changed the data
        (or a warm-up was held back by it)."""
        held = self.warmer.hold()
        outcome = await writing
        if outcome.applied or held:
            self.warmer.poke()
        return outcome

    async def start(self, *, consume: bool = True, attach_timeout: float = 5.0) -> None:
        """Migrate, then provision and consume in the background: while NATS is down the service
        answers HTTP (not ready) and starts consuming once NATS answers, without a restart. The
        database too: while it is down the service is not ready and migrates once it answers."""
        fewer_collections()
        if not consume:
            await migrate(self.engine, MIGRATIONS)
            return
        self._shares_batches = (
            self.keys is not None and self.own.prepare_in_worker and default_workers() > 0
        )
        # per-event spans are made where events are prepared: here, when spans go somewhere
        self._uses_lanes = (
            self.own.ingest_lanes and default_workers() > 0 and not self.telemetry.traced
        )
        self._consuming = asyncio.create_task(
            self._provision_and_consume(), name="reporting-consumer"
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._consuming), attach_timeout)

    async def _provision_and_consume(self) -> None:
        await migrate_when_possible(self.engine, MIGRATIONS, "reporting")
        await self.metrics.read_newest(self.sessions)
        if self.settings.declare_streams and self.own.provision_streams:
            nc = await connect(self.nats_url, "reporting-provision")  # waits for NATS
            try:
                await ensure_hub_topology(
                    nc.jetstream(),
                    self.settings.hub,
                    self.settings.nodes,
                    self.settings.duplicate_window_seconds,
                    self.settings.node_domains,
                )
            finally:
                await nc.drain()
        await self._resume_from_database()
        fix_idle_fetch_timeout()
        fast_header_parsing()
        quick_next_msg()
        broker = NatsBroker(
            self.nats_url.split(","),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,  # type: ignore[arg-type]  # FastStream: int; nats-py: float
            logger=BROKER_LOG,
            log_level=logging.DEBUG,  # per-batch access lines only when debugging
        )
        self._batches = subscribe_hub_events(
            broker,
            self.settings.hub,
            self.own.durable,
            self.own.batch_size,
            self.own.batch_timeout,
            self.prepare_fetched,
            self.write,
        )
        self.broker = broker
        await broker.start()

    async def _resume_from_database(self) -> None:
        """Point the durable at the database's own position before consuming
        (services/reporting/ingest/position.py)."""
        nc = await connect(self.nats_url, "reporting-position")  # waits for NATS
        try:
            await align_durable(
                nc.jetstream(),
                hub_stream(self.settings.hub),
                self.settings.hub,
                self.own.durable,
                self.own.batch_size,
                await database_position(self.sessions),
            )
        except Exception as exc:
            log.error("reporting not consuming: %s", exc)
            raise
        finally:
            await nc.close()

    async def stop(self) -> None:
        if self._consuming is not None and not self._consuming.done():
            self._consuming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consuming
        if self._batches is not None:
            await self._batches.close()  # the batch being written, written and acknowledged
        if self.broker is not None:
            try:
                await self.broker.stop()
            except Exception as exc:  # its server already gone: the stop goes on to the database
                log.warning(
                    "reporting: NATS connection lost while stopping: %s", failure_reason(exc)
                )
        await self.warmer.stop()
        if self.preparer is not None:
            await asyncio.to_thread(
                self.preparer.close
            )  # waits for the worker to exit, not in the event loop
            self.preparer = None
        if self.lanes is not None:
            await asyncio.to_thread(self.lanes.close)
            self.lanes = None
        await self.checkpointer.idle()
        await self.engine.dispose()
        await self.read_engine.dispose()

    async def hub_message(self, stream_seq: int) -> StreamMessage | None:
        """One hub stream message by sequence, its bytes and headers as published (the event page
        checks an applied event's signature from them); None when the stream no longer holds it.
        Raises ConnectionError while the consumer has no NATS connection."""
        if self.broker is None or not await self.broker.ping(timeout=1.0):
            raise ConnectionError("NATS is not connected")
        js = self.broker.connection.jetstream(timeout=3)
        return await stream_fetcher(js, hub_stream(self.settings.hub))(stream_seq)

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {"database": await database_status(self.read_sessions)}
        started = (
            self._consuming is not None
            and self._consuming.done()
            and not self._consuming.exception()
        )
        connected = started and self.broker is not None and await self.broker.ping(timeout=1.0)
        checks["nats"] = "ok" if connected else "unavailable"
        checks["ready"] = checks["database"] == "ok" and connected
        return checks


def _describe(span: Span | None, outcome: IngestOutcome) -> None:
    if span is not None:
        span.set_attributes(
            {
                "hub.events.applied": outcome.applied,
                "hub.events.duplicates": outcome.duplicates,
                "hub.events.dead_letters": len(outcome.dead),
            }
        )
