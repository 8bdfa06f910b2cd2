"""A commit that wakes the relay while it is publishing is published next, not at the idle poll."""

from __future__ import annotations

import asyncio
import contextlib

from services.partners import app as partners_app
from shared.bus import connect
from shared.relay import OutboxRelay
from tests.helpers import System, wait_for
from tests.test_relay import register


async def test_a_wake_during_a_publish_is_not_lost(system: System) -> None:
    coventry = system.services[("coventry", "partners")]
    await coventry.stop()  # its relay would publish the commit below itself
    service = partners_app.build_service(system.settings, "coventry", system.nats_url)
    await service.start(relay=False)
    await register(service, 1)

    class CommitWhilePublishing(OutboxRelay):
        """Another request commits (and wakes the relay) while the first batch is in flight."""

        committed = False

        async def publish(self, pending: list) -> None:  # type: ignore[type-arg]
            await super().publish(pending)
            if not self.committed:
                self.committed = True
                await register(service, 1, prefix="Late")
                self.wake()

    nc = await connect(system.nats_url, "test-wake")
    relay = CommitWhilePublishing(service.sessions, service.outbox, nc, idle_poll=3600)
    running = asyncio.create_task(relay.run())
    try:
        assert await wait_for(relay.backlog, lambda n: relay.committed and n == 0) == 0
        assert relay.published == 2
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await nc.close()
        await service.stop()
