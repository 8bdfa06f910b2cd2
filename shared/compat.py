"""Narrow fixes for known upstream issues, each with the condition for removing it."""

from __future__ import annotations

import functools
import re
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.client import JetStreamContext


def fix_idle_fetch_timeout() -> None:
    """Make an idle pull ``fetch`` raise ``nats.errors.TimeoutError`` again.

    nats-py 2.15+ raises a bare ``asyncio.TimeoutError`` when a fetch expires with no messages;
    FastStream 0.7.8's pull loop catches only ``nats.errors.TimeoutError``, so every idle second its
    supervisor restarts the fetch task with an ERROR traceback. Delivery survives, the logs do not.
    Remove once FastStream catches the built-in ``TimeoutError`` (tests/test_compat.py will say).
    """
    subscription = JetStreamContext.PullSubscription
    if getattr(subscription.fetch, "_hub_ledger_fix", False):
        return
    original = subscription.fetch

    @functools.wraps(original)
    async def fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original(self, *args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as exc:
            raise nats.errors.TimeoutError from exc

    fetch._hub_ledger_fix = True  # type: ignore[attr-defined]  # our mark: patch once
    subscription.fetch = fetch  # type: ignore[method-assign]  # the fix is this patch


NATS_PARSE_HEADER_LINES = Client._parse_header_lines
"""nats-py's own header parser, which `parse_header_lines` stands in for (tests compare them)."""
_WHITESPACE = re.compile(r"\s")  # what str.isspace() calls whitespace
_HEADER_NAMES_KEPT = 256
_header_names: dict[bytes, str | None] = {}
"""Header names as read before (None: one nats-py skips): a stream's messages repeat a few."""


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """nats-py 2.16's ``Client._parse_header_lines``, the same dict for the same bytes, with each
    header name decoded and checked once per process rather than once per message, character by
    character (for a signed batch's headers, most of the parse's time)."""
    out: dict[str, str] = {}
    for line in raw.split(b"\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = _header_names.get(name, "")
        if key == "":
            key = _header_name(name)
            if len(_header_names) < _HEADER_NAMES_KEPT:
                _header_names[name] = key
        if key is not None:
            out[key] = value.strip().decode("utf-8", "replace")
    return out


def _header_name(name: bytes) -> str | None:
    """The name as nats-py keeps it, or None where it skips the line (not ASCII, or whitespace
    inside)."""
    try:
        key = name.strip().decode("ascii")
    except UnicodeDecodeError:
        return None
    return None if _WHITESPACE.search(key) else key


def fast_header_parsing() -> None:
    """Parse message headers with `parse_header_lines` in this process's NATS clients.

    nats-py 2.16 checks every header name for whitespace a character at a time in a generator,
    for every message: with a signed batch's proof headers, a large share of the CPU a fetched
    message costs the consumer before it is read. Remove once nats-py's own parser is as quick
    (tests/test_compat.py checks both give the same headers)."""
    Client._parse_header_lines = staticmethod(parse_header_lines)  # type: ignore[method-assign]


NATS_NEXT_MSG = Subscription.next_msg
"""nats-py's own ``Subscription.next_msg``, which `quick_next_msg` falls back to."""


def quick_next_msg() -> None:
    """Hand over a message already queued on a subscription at once, without a task.

    nats-py 2.16's ``next_msg`` starts a task (named by a fresh uuid4) around an
    ``asyncio.wait_for`` for every message, even one already waiting in the subscription's
    queue, and a pull ``fetch`` calls it once per message: for a fetch of thousands, most of the
    client's CPU a message (docs/benchmarks.md). Here a queued message is taken as that task would
    take it; with none queued, or another caller already waiting, nats-py's own path runs. Remove
    once its ``next_msg`` takes a queued message without a task (tests/test_compat.py will say)."""
    if getattr(Subscription.next_msg, "_hub_ledger_fix", False):
        return

    @functools.wraps(NATS_NEXT_MSG)
    async def next_msg(self: Subscription, timeout: float | None = 1.0) -> Msg:
        queue = self._pending_queue
        if queue.empty() or self._pending_next_msgs_calls or self._cb or self._conn.is_closed:
            return await NATS_NEXT_MSG(self, timeout)
        msg = queue.get_nowait()
        self._pending_size -= len(msg.data)
        queue.task_done()  # as nats-py's own path marks a message handed over
        return msg

    next_msg._hub_ledger_fix = True  # type: ignore[attr-defined]  # our mark: patch once
    Subscription.next_msg = next_msg  # type: ignore[method-assign]  # the fix is this patch
