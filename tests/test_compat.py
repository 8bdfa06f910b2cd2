"""Upstream work-arounds in shared/compat.py: still needed, and still working."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import nats.errors
import pytest

from shared.bus import connect, ensure_node_stream
from shared.compat import (
    NATS_NEXT_MSG,
    NATS_PARSE_HEADER_LINES,
    fast_header_parsing,
    fix_idle_fetch_timeout,
    parse_header_lines,
    quick_next_msg,
)
from shared.nats_server import NatsServer
from shared.signing import NodeSigner
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


def _header_block(rng: random.Random) -> bytes:
    """A header block as a server might send one, odd lines included: names with whitespace
    inside or around, non-ASCII names and values, no colon, empty lines, repeated names, colons
    in values."""
    names = [b"Nats-Msg-Id", b"Hub-Batch-Proof", b" Hub-Batch-Leaf ", b"Bad Name", b"Tab\tName"]
    names += [b"N\xc3\xa4me", b"Vertical\x0bTab", b"Unit\x1fSep", b"", b"X"]
    values = [b" plain", b"  spaced out  ", b"caf\xc3\xa9", b"\xff\xfebad utf-8", b"", b"a:b:c"]
    lines = []
    for _ in range(rng.randint(0, 8)):
        kind = rng.random()
        if kind < 0.1:
            lines.append(b"")
        elif kind < 0.2:
            lines.append(rng.choice(values))  # no colon
        else:
            lines.append(rng.choice(names) + b":" + rng.choice(values))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_the_quick_header_parser_reads_what_nats_py_reads() -> None:
    rng = random.Random(26)
    blocks = [_header_block(rng) for _ in range(3000)]
    signed = NodeSigner.generate().sign_batch("hub", "coventry", [b"a", b"b", b"c"])
    blocks += [
        b"".join(k.encode() + b": " + v.encode() + b"\r\n" for k, v in h.items()) + b"\r\n"
        for h in signed
    ]
    for block in blocks:
        assert parse_header_lines(block) == NATS_PARSE_HEADER_LINES(block), block
    assert {len(parse_header_lines(b)) for b in blocks[-3:]} == {4}


async def test_messages_fetched_with_the_quick_parser_keep_their_headers(
    nats_server: NatsServer, hub_id: str
) -> None:
    fast_header_parsing()
    nc = await connect(nats_server.url, "test-compat-headers")
    js = nc.jetstream()
    await ensure_node_stream(js, hub_id, "coventry", 60)
    headers = {"Nats-Msg-Id": "one", "Hub-Batch-Leaf": "0/1", "Odd": "caf\u00e9: x"}
    await js.publish(f"{node_subjects(hub_id, 'coventry')[:-1]}x", b"{}", headers=headers)
    sub = await js.pull_subscribe(
        node_subjects(hub_id, "coventry"), durable="headers", stream=node_stream(hub_id, "coventry")
    )
    (msg,) = await sub.fetch(1, timeout=5)
    assert msg.headers == headers
    await nc.close()


T = TypeVar("T")


async def _tasks_made(call: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    """What `call` returns, and how many tasks the event loop started meanwhile."""
    loop = asyncio.get_running_loop()
    made = 0

    def counting(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
    ) -> asyncio.Task[Any]:
        nonlocal made
        made += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        return await call(), made
    finally:
        loop.set_task_factory(None)


async def test_nats_py_still_starts_a_task_for_a_queued_message(nats_server: NatsServer) -> None:
    """The reason for `quick_next_msg`: when this fails, nats-py's next_msg no longer needs it."""
    nc = await connect(nats_server.url, "test-compat-next")
    sub = await nc.subscribe("compat.next")
    await nc.publish("compat.next", b"queued")
    await nc.flush()
    while sub._pending_queue.empty():
        await asyncio.sleep(0.01)
    msg, made = await _tasks_made(lambda: NATS_NEXT_MSG(sub, 1.0))
    assert msg.data == b"queued" and made >= 1
    await nc.close()


async def test_a_fetch_takes_queued_messages_without_a_task_each(
    nats_server: NatsServer, hub_id: str
) -> None:
    """With `quick_next_msg`, a fetch of 1,000 messages (a consumer's default most unacknowledged)
    gives every one, in order, with its headers, starting a task only when the subscription's queue
    runs dry (nats-py alone: two a message)."""
    quick_next_msg()
    nc = await connect(nats_server.url, "test-compat-fetch")
    js = nc.jetstream()
    await ensure_node_stream(js, hub_id, "coventry", 60)
    subject = f"{node_subjects(hub_id, 'coventry')[:-1]}x"
    for start in range(0, 1000, 500):
        await asyncio.gather(
            *(
                js.publish_async(subject, f"{i}".encode(), headers={"Nats-Msg-Id": str(i)})
                for i in range(start, start + 500)
            )
        )
    sub = await js.pull_subscribe(
        node_subjects(hub_id, "coventry"), durable="quick", stream=node_stream(hub_id, "coventry")
    )
    msgs, made = await _tasks_made(lambda: sub.fetch(1000, timeout=5))
    assert [m.data for m in msgs] == [f"{i}".encode() for i in range(1000)]
    assert [m.headers for m in msgs] == [{"Nats-Msg-Id": str(i)} for i in range(1000)]
    assert made < 50
    await nc.close()
