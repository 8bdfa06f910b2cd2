"""Narrow fixes for known upstream issues, each with the condition for removing it."""

from __future__ import annotations

import functools
from typing import Any

import nats.errors
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
