"""Preparing batches in worker processes while this one writes.

Applying an event is two halves: the Python half needs no database (parse, check the subject
and signature, hash, project: about 60 µs an event) and the database half writes the rows. In one
CPython process they take turns, even in threads; with the first half in worker processes the
two overlap on a machine's cores. `hub rebuild` prepares each batch in workers while the one
before it is written (docs/benchmarks.md has the figures).

What crosses between processes is small: each message's subject and bytes one way, a
``PreparedEvent`` tuple back (inserts and updates pickled by table name); statements that are
neither are worked out again in this process (``gather_prepared``). Workers make no per-event
trace spans (the live consumer, which prepares in its own process, does).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import chain
from types import TracebackType

from shared.signing import NodeKeys
from services.reporting.projections import portable
from services.reporting.services import Incoming, PreparedBatch, PreparedEvent, gather_prepared, prepare_message

_hub = ""
_keys: NodeKeys | None = None


MAX_WORKERS = 3
"""More do not help: beyond two or three, the writing process is the one everything waits for."""


def default_workers() -> int:
    """One worker per core this process may use beside its own (none on a single core), at most MAX_WORKERS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(MAX_WORKERS, cores - 1)


class ParallelPreparer:
    """Prepares batches in `workers` spawned processes, each batch split evenly between them."""

    def __init__(self, hub: str, keys: NodeKeys | None, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"),  # a fork would copy the event loop's threads
            initializer=_start_worker, initargs=(hub, keys),
        )

    async def prepare(self, batch: Sequence[Incoming]) -> PreparedBatch:
        loop = asyncio.get_running_loop()
        size = max(1, -(-len(batch) // self.workers))
        chunks = [[(m.subject, m.data) for m in batch[i:i + size]] for i in range(0, len(batch), size)]
        prepared = await asyncio.gather(*(loop.run_in_executor(self._pool, _prepare_chunk, c) for c in chunks))
        return gather_prepared(batch, chain.from_iterable(prepared))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ParallelPreparer:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def _start_worker(hub: str, keys: NodeKeys | None) -> None:
    global _hub, _keys
    _hub, _keys = hub, keys


def _prepare_chunk(messages: list[tuple[str, bytes]]) -> list[PreparedEvent | str]:
    """In a worker: prepare each message (its stream sequence is the writer's business)."""
    prepared = []
    for subject, data in messages:
        event = prepare_message(Incoming(subject, data, 0), _hub, _keys)
        if not isinstance(event, str) and event.writes and not portable(event.writes):
            event = event._replace(writes=None)
        prepared.append(event)
    return prepared
