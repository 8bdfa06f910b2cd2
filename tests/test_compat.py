"""Upstream work-arounds in shared/compat.py: still needed, and still working."""

from __future__ import annotations

import random

import nats.errors
import pytest

from shared.bus import connect, ensure_node_stream
from shared.compat import (
    NATS_PARSE_HEADER_LINES,
    fast_header_parsing,
    fix_idle_fetch_timeout,
    parse_header_lines,
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
