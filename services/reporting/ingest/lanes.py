"""Preparing and writing batches in two processes of their own, taking turns, beside the consumer.

In one CPython process the consumer's stages take turns: fetching, preparing and the database's
work each wait for the others, SQLite's thread included (it takes the interpreter lock back for
every row it steps). Here each batch goes to one of two lanes, alternately: the lane checks and
projects it (no database) while the other lane writes the batch before, then writes it once that
one has committed. The consumer itself only fetches, hands over, acknowledges and dead-letters.
Writes stay one at a time and in stream order (`BatchPipeline`,
services/reporting/ingest/handlers.py, starts a write only once the one before is settled). What
a lane prepared stays in it until it writes it, so only each message's bytes cross one way, and
the outcome the other, dead letters named by stream sequence (docs/benchmarks.md has the figures).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting.ingest.apply import (
    Incoming,
    IngestOutcome,
    PreparedBatch,
    apply_batch,
    prepare_batch,
)
from services.reporting.ingest.bulk import bulk_settings
from shared.db import create_engine, session_factory
from shared.memory import fewer_collections, pause_collections, resume_collections
from shared.processes import watch_parent
from shared.signing import NodeKeys

log = logging.getLogger(__name__)
T = TypeVar("T")

Message = tuple[str, bytes, int, Mapping[str, str] | None]
"""A fetched message as it crosses to a lane: subject, bytes, stream sequence, headers."""


@dataclass(frozen=True)
class Written:
    """A batch's outcome as a lane sends it back."""

    applied: int
    duplicates: int
    dead: list[tuple[int, str]]
    """(stream sequence, reason) of each message refused, preparing or writing."""
    newest_recorded_at: datetime | None
    cpu_seconds: float
    """The lane's CPU time preparing and writing the batch."""


@dataclass(frozen=True)
class Staged:
    """A batch prepared in a lane, held there until it is written."""

    lane: int
    token: int
    batch: list[Incoming]


class LaneDied(Exception):
    """A lane ended (killed, out of memory) with a batch staged or being written: that batch's
    transaction did not commit, so it is given back; a new lane starts in its place."""


@dataclass
class Lanes:
    """Two spawned processes, each with its own engine on the reporting database, preparing and
    writing alternate batches; `cpu_seconds` sums what they spent on them."""

    hub: str
    keys: NodeKeys | None
    database_url: str
    nodes: list[str] | None
    bulk: bool = False
    """A rebuild's lanes: their connections take the bulk load's settings (no flush per commit,
    the journal in memory: services/reporting/ingest/bulk.py)."""
    cpu_seconds: float = 0.0
    _pools: list[ProcessPoolExecutor] = field(default_factory=list)
    _tokens: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self._pools = [self._start() for _ in range(2)]

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),  # a fork would copy the loop's threads
            initializer=_start_lane,
            initargs=(self.hub, self.keys, self.database_url, self.nodes, self.bulk, os.getpid()),
        )
        pool.submit(_started)  # started now, not by the first batch (importing takes a second)
        return pool

    async def prepare(self, batch: list[Incoming]) -> Staged:
        """Check and project `batch` in the next lane, which holds it until `write`."""
        token = next(self._tokens)
        lane = token % 2
        messages = [(m.subject, m.data, m.stream_seq, m.headers) for m in batch]
        await self._run(lane, _prepare, token, messages)
        return Staged(lane, token, batch)

    async def write(self, staged: Staged) -> IngestOutcome:
        """Write a staged batch in its lane, in one transaction (the caller starts it only once the
        batch before is written)."""
        written: Written = await self._run(staged.lane, _write, staged.token)
        self.cpu_seconds += written.cpu_seconds
        by_seq = {m.stream_seq: m for m in staged.batch}
        return IngestOutcome(
            applied=written.applied,
            duplicates=written.duplicates,
            dead=[(by_seq[seq], why) for seq, why in written.dead],
            newest_recorded_at=written.newest_recorded_at,
        )

    async def _run(self, lane: int, call: Callable[..., T], *args: Any) -> T:
        pool = self._pools[lane]
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, call, *args)
        except BrokenProcessPool as exc:
            if self._pools[lane] is pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self._pools[lane] = self._start()
            raise LaneDied(f"ingest lane {lane} ended; its batch is given back") from exc

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Lane:
    """A lane's own state: what it checks against, where it writes, what it holds."""

    hub: str
    keys: NodeKeys | None
    nodes: list[str] | None
    loop: asyncio.AbstractEventLoop
    sessions: async_sessionmaker[AsyncSession]
    staged: dict[int, tuple[PreparedBatch, float]] = field(default_factory=dict)


_lane: _Lane | None = None


def _started() -> None:
    """Nothing: submitted once so that the lane starts at once."""


def _start_lane(
    hub: str,
    keys: NodeKeys | None,
    database_url: str,
    nodes: list[str] | None,
    bulk: bool,
    parent: int,
) -> None:
    """A lane's set-up: an event loop and an engine of its own (its connections checkpoint only past
    the backstop: the consumer's checkpointer copies the log back; a rebuild's take the bulk
    settings), and an end when its parent ends, SIGKILL included."""
    global _lane
    watch_parent(parent)
    fewer_collections()
    engine = create_engine(database_url, checkpoints_elsewhere=True)
    if bulk:
        event.listen(engine.sync_engine, "connect", bulk_settings(engine.dialect.name))
    _lane = _Lane(hub, keys, nodes, asyncio.new_event_loop(), session_factory(engine))


def _prepare(token: int, messages: list[Message]) -> None:
    """In a lane: check and project a batch, and hold it for `_write`. Collections pause until it
    is written and freed: resumed between, the lane's next allocation would have the collector
    scan and promote the whole batch, for no garbage (shared/memory.py)."""
    assert _lane is not None
    started = time.process_time()
    for _ in _lane.staged:  # staged and never written (given back): it comes again
        resume_collections()
    _lane.staged.clear()
    pause_collections()
    try:
        prepared = prepare_batch([Incoming(*m) for m in messages], _lane.hub, _lane.keys)
    except BaseException:
        resume_collections()
        raise
    _lane.staged[token] = prepared, time.process_time() - started


def _write(token: int) -> Written:
    """In a lane: write a batch it holds, in one transaction, as the consumer would."""
    assert _lane is not None
    started = time.process_time()
    prepared, preparing = _lane.staged.pop(token)
    try:
        outcome = _lane.loop.run_until_complete(apply_batch(prepared, _lane.sessions, _lane.nodes))
    finally:
        del prepared  # freed before collections resume
        resume_collections()
    return Written(
        outcome.applied,
        outcome.duplicates,
        [(incoming.stream_seq, why) for incoming, why in outcome.dead],
        outcome.newest_recorded_at,
        preparing + time.process_time() - started,
    )
