"""Dashboard sign-in state kept on the server: the sessions that are signed in (a cookie only names
one, so signing out ends it for whoever holds a copy of the cookie), and throttling of failed
sign-ins per account and per client (a password cannot be guessed at scrypt speed).

Both live in the reporting process: restarting it signs everyone out and forgets failures.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.http import redact

log = logging.getLogger(__name__)
CLIENT_FACTOR = 4
"""A client (an address, perhaps an office behind one) may fail this many times an
account's allowance."""


@dataclass
class Sessions:
    """Session ids of signed-in users and when each ends."""

    hours: float
    clock: Callable[[], float] = time.monotonic
    _live: dict[str, tuple[str, float]] = field(default_factory=dict)

    def start(self, user: str) -> str:
        now = self.clock()
        self._live = {sid: entry for sid, entry in self._live.items() if entry[1] > now}
        sid = secrets.token_urlsafe(32)
        self._live[sid] = (user, now + self.hours * 3600)
        return sid

    def user(self, sid: str) -> str | None:
        """The user a session id belongs to while it lasts; none once ended,
        expired or never issued."""
        entry = self._live.get(sid)
        return entry[0] if entry and entry[1] > self.clock() else None

    def end(self, sid: str) -> None:
        self._live.pop(sid, None)


@dataclass
class LoginThrottle:
    """After `allowed` failed sign-ins in a row to one account (CLIENT_FACTOR times that from one
    client), each within `window` seconds of the one before, that account or client is locked for
    `window` seconds: every attempt, the right password included, is refused until then. A success
    clears the account's count; locks are logged."""

    allowed: int
    window: float
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)
    _locked_until: dict[str, float] = field(default_factory=dict)

    def wait(self, account: str, client: str) -> float:
        """Seconds until `account` from `client` may try again (0: now)."""
        now = self.clock()
        return max(0.0, *(self._locked_until.get(k, 0.0) - now for k in _keys(account, client)))

    def failed(self, account: str, client: str) -> None:
        now = self.clock()
        for key, limit in zip(
            _keys(account, client), (self.allowed, self.allowed * CLIENT_FACTOR), strict=True
        ):
            count, last = self._failures.get(key, (0, now))
            count = count + 1 if now - last <= self.window else 1
            if count >= limit:
                self._locked_until[key] = now + self.window
                count = 0
                log.warning(
                    "dashboard sign-in locked for %.0f s after %d failures: %s",
                    self.window,
                    limit,
                    redact(key),
                )
            self._failures[key] = (count, now)
        if len(self._failures) > 10_000:  # bounded memory whatever names and addresses are tried
            self._failures = {k: v for k, v in self._failures.items() if now - v[1] <= self.window}
            self._locked_until = {k: t for k, t in self._locked_until.items() if t > now}

    def succeeded(self, account: str) -> None:
        self._failures.pop(f"account {account}", None)


def _keys(account: str, client: str) -> tuple[str, str]:
    return f"account {account}", f"client {client}"
