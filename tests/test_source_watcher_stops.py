"""The hub's source watcher ends when cancelled, even when a round swallowed the cancellation (as
``asyncio.wait_for`` can before Python 3.12): `hub hub up` and the tests' hubs wait for it."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.sourcing import watch_node_sources


class SwallowingWatcher:
    """A round that, like a request whose wait ends as the cancellation lands, returns normally."""

    def __init__(self) -> None:
        self.rounds = 0

    async def round(self) -> None:
        self.rounds += 1
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            return


async def test_a_cancellation_swallowed_by_a_round_still_ends_the_watcher() -> None:
    watcher = SwallowingWatcher()
    nc: Any = None  # never used: the watcher is given
    task = asyncio.create_task(watch_node_sources(nc, "h", ["a"], 60, 0.01, watcher))
    while watcher.rounds == 0:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.02)  # inside a round's wait
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done and task.cancelled(), f"still running after {watcher.rounds} rounds"
