"""Batches applied in order, each prepared while the one before it is written.

Preparing a batch (parse, check, project) is Python work on the event loop; writing it is mostly
the database's own work on its thread (SQLite releases the interpreter while it steps) or server.
Overlapping the two keeps both cores busy. Order is kept: a batch's write starts only after the
previous write committed, so the duplicate check sees everything before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.signing import NodeKeys
from services.reporting.memory import collections_paused
from services.reporting.services import (
    Incoming,
    IngestOutcome,
    PreparedBatch,
    apply_batch,
    prepare_batch_cooperatively,
)

log = logging.getLogger(__name__)

Written = Callable[[IngestOutcome | None], Awaitable[None]]
"""Told each batch's outcome once its write has committed, or None if it was not written."""

SWEEP_EVERY = 20
"""Collections are paused while batches are in flight; one full sweep every this many batches
collects the little cyclic garbage (sessions, futures) they leave."""


class IngestPipeline:
    """One batch being written, the next being prepared."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], hub: str, keys: NodeKeys | None = None) -> None:
        self._sessions, self._hub, self._keys = sessions, hub, keys
        self._writing: asyncio.Task[None] | None = None
        self._batches = 0
        self._closed = False

    async def submit(self, batch: Sequence[Incoming], written: Written) -> None:
        """Prepare `batch`, wait for the write before it, then start writing it and return.

        If the write before it failed, `batch` is not written either (`written(None)`): applied
        after a batch that will be redelivered, its events would overtake earlier ones.
        """
        with collections_paused():
            prepared = await prepare_batch_cooperatively(batch, self._hub, self._keys)
            try:
                await self.drain()
            except Exception:  # logged by the write that failed; its batch was told None
                await written(None)
                return
            if self._closed:
                await written(None)
                return
            self._writing = asyncio.create_task(self._write(prepared, written), name="reporting-write")
        self._batches += 1
        if self._batches % SWEEP_EVERY == 0:
            gc.collect()

    async def drain(self) -> None:
        """Wait for the write in flight; raises what made it fail (its batch was told None)."""
        writing, self._writing = self._writing, None
        if writing is not None:
            await writing

    async def close(self) -> None:
        """Finish the write in flight and write nothing more (batches submitted later are told None)."""
        self._closed = True
        with contextlib.suppress(Exception):  # already logged, and its batch told
            await self.drain()

    async def _write(self, prepared: PreparedBatch, written: Written) -> None:
        with collections_paused():
            try:
                outcome = await apply_batch(prepared, self._sessions)
            except Exception:
                log.exception("writing a batch of %d messages failed", len(prepared.batch))
                await written(None)
                raise
            await written(outcome)
