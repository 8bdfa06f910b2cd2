"""Upstream work-arounds in shared/compat.py: still needed, and still working."""

from __future__ import annotations

import nats.errors
import pytest

from shared.bus import connect, ensure_node_stream
from shared.compat import fix_idle_fetch_timeout
from shared.nats_server import NatsServer
from shared.subjects import node_stream, node_subjects


async def test_idle_fetch_raises_the_error_faststream_expects(
    nats_server: NatsServer, hub_id: str
) -> None:
    fix_idle_fetch_timeout()
    nc = await connect(nats_server.url, "test-compat")
    js = nc.jetstream()
    await ensure_node_stream(js, hub_id, "coventry", 60)
    sub = await js.pull_subscribe(
        node_subjects(hub_id, "coventry"), durable="idle", stream=node_stream(hub_id, "coventry")
    )
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.2)
    await nc.close()
