"""Preparing batches in worker processes while this one writes.

Applying an event is two halves: the Python half needs no database (parse, check the subject
and signature, hash, project) and the database half writes the rows. In one CPython process they
take turns, even in threads; with the first half in worker processes the two overlap on a
machine's cores. `hub rebuild` prepares each batch in workers while the one before it is written;
the live consumer, when it checks signatures (most of preparing then), prepares part of each batch
in a worker while it prepares the rest itself (docs/benchmarks.md has the figures).

What crosses between processes is small: each message's subject and bytes one way, a
``PreparedEvent`` tuple back (inserts and updates pickled by table name); statements that are
neither are worked out again in this process (``gather_prepared``). Workers make no per-event
trace spans (the live consumer, which prepares in its own process, does).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import chain
from types import TracebackType

from services.reporting.ingest.apply import (
    Incoming,
    PreparedBatch,
    PreparedEvent,
    gather_prepared,
    prepare_message,
    prepare_messages,
)
from services.reporting.projections import portable
from shared.processes import watch_parent
from shared.signing import NodeKeys

log = logging.getLogger(__name__)
_hub = ""
_keys: NodeKeys | None = None


MAX_WORKERS = 3
"""More do not help: beyond two or three, the writing process is the one everything waits for."""
FEWEST_TO_SHARE = 100
"""Smaller batches (a quiet stream's) are prepared here:
handing them over would cost more than it saves."""


def default_workers() -> int:
    """One worker per core this process may use beside its own (none on a single core),
    at most MAX_WORKERS."""
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    return min(MAX_WORKERS, cores - 1)


class ParallelPreparer:
    """Prepares batches in `workers` spawned processes, each batch split evenly between them, and
    `here_share` of each batch in this process meanwhile (0: this process only waits)."""

    def __init__(
        self, hub: str, keys: NodeKeys | None, workers: int, here_share: float = 0.0
    ) -> None:
        self.workers = workers
        self.here_share = here_share
        self._hub, self._keys = hub, keys
        self._pool = self._start_pool()

    def _start_pool(self) -> ProcessPoolExecutor:
        """Workers started now, not by the first batch (a spawned worker takes a second or two
        to import)."""
        pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context(
                "spawn"
            ),  # a fork would copy the event loop's threads
            initializer=_start_worker,
            initargs=(self._hub, self._keys, os.getpid()),
        )
        for _ in range(self.workers):
            pool.submit(_started)
        return pool

    async def prepare(self, batch: Sequence[Incoming]) -> PreparedBatch:
        loop = asyncio.get_running_loop()
        if self.here_share and len(batch) < FEWEST_TO_SHARE:
            return gather_prepared(batch, prepare_messages(batch, self._hub, self._keys))
        cut = len(batch) - int(len(batch) * self.here_share)
        size = max(1, -(-cut // self.workers))
        chunks = [
            [(m.subject, m.data, m.headers) for m in batch[i : min(i + size, cut)]]
            for i in range(0, cut, size)
        ]
        try:
            there = [loop.run_in_executor(self._pool, _prepare_chunk, c) for c in chunks]
            here = prepare_messages(
                batch[cut:], self._hub, self._keys
            )  # while the workers prepare theirs
            prepared = await asyncio.gather(*there)
        except (
            BrokenProcessPool
        ):  # a worker died (killed, out of memory): start afresh, prepare this batch here
            log.warning("a preparing worker died; starting new ones and preparing this batch here")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start_pool()
            return gather_prepared(batch, prepare_messages(batch, self._hub, self._keys))
        return gather_prepared(batch, chain(chain.from_iterable(prepared), here))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ParallelPreparer:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def _started() -> None:
    """Nothing: submitted once per worker so that it starts at once."""


def _start_worker(hub: str, keys: NodeKeys | None, parent: int) -> None:
    """A worker's set-up: what it checks against, and an end when its parent ends, SIGKILL
    included (``shared.processes.watch_parent``: a worker left behind holds 100 MB or more, and
    its resource tracker with it)."""
    global _hub, _keys
    watch_parent(parent)
    _hub, _keys = hub, keys


def _prepare_chunk(
    messages: list[tuple[str, bytes, Mapping[str, str] | None]],
) -> list[PreparedEvent | str]:
    """In a worker: prepare each message (its stream sequence is the writer's business)."""
    prepared = []
    for subject, data, headers in messages:
        event = prepare_message(Incoming(subject, data, 0, headers), _hub, _keys)
        if not isinstance(event, str) and event.writes and not portable(event.writes):
            event = event._replace(writes=None)
        prepared.append(event)
    return prepared
