"""The garbage collector's schedule while events are applied and figures computed.

Applying a batch allocates hundreds of thousands of short-lived, acyclic objects (parsed events,
rows, parameters) that stay alive until the batch commits. Each collection the allocations trigger
re-scans all of them and promotes them to older generations, where they are scanned again: a
fifth of apply time even with `fewer_collections`' threshold, for no garbage found. Reference
counting frees them once the batch is done, so collections pause while a batch is applied and
resume after, when almost nothing is left to scan. Computing a figure is the same: a year's
pupils joined, counted and grouped (services/reporting/read/versioned.py).

What a service holds for long (a year's participations between data versions) is frozen once read:
every full collection would otherwise scan it again, for nothing (`kept_out_of_collections`).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_paused = 0


def pause_collections() -> None:
    """No automatic collection until the matching `resume_collections` (pauses nest)."""
    global _paused
    if _paused == 0:
        gc.disable()
    _paused += 1


def resume_collections() -> None:
    global _paused
    _paused -= 1
    if _paused == 0:
        gc.enable()


@contextmanager
def collections_paused() -> Iterator[None]:
    """No automatic collection inside the block (nestable; other tasks run meanwhile,
    briefly unswept)."""
    pause_collections()
    try:
        yield
    finally:
        resume_collections()


@contextmanager
def collections_swept_every(batches: int = 10) -> Iterator[Callable[[], None]]:
    """For a bulk run in which a batch is always in flight (`hub rebuild`): collections paused for
    the whole run, since each one would re-scan and promote the batch in flight; call the yielded
    function after each batch, and every `batches` batches it sweeps the young generation, so the
    little cyclic garbage a batch leaves cannot add up."""
    done = 0

    def batch_done() -> None:
        nonlocal done
        done += 1
        if done % batches == 0:
            gc.collect(0)

    with collections_paused():
        yield batch_done


def fewer_collections() -> None:
    """Between batches too the default threshold (700) sweeps the service's many long-lived objects
    needlessly often: freeze what start-up built and raise the young generation's threshold."""
    if gc.get_threshold()[0] >= 50_000:
        return  # once per process (tests and `hub demo` start several services in one)
    gc.collect()  # garbage pending now would be frozen for good
    # what start-up built (modules, tables, models) is never garbage: stop re-scanning it
    gc.freeze()
    gc.set_threshold(50_000, *gc.get_threshold()[1:])


@contextmanager
def kept_out_of_collections() -> Iterator[None]:
    """Whatever is alive when the block ends is moved out of the collector's reach (`gc.freeze`):
    wrap the building of a large structure that lives on (acyclic, freed by reference counting when
    dropped), so full collections stop re-scanning it. The young generations are swept as the block
    starts, so that recent cyclic garbage is freed rather than frozen; not as it ends, which would
    scan everything the block built (a year's rows: a tenth of a second) for the little cyclic
    garbage the block itself made (none, reading a year). Whatever else is alive then is frozen too:
    rare calls."""
    gc.collect(1)
    yield
    gc.freeze()
