"""Figures computed once per data version: what the report routes and dashboard pages share.

Projections change only when a batch of events is applied, and every applied batch moves the
ingest position (applied count and hash-chain head). A view computed at one position is therefore
the same for every request at that position: it is kept here under (position, key) and served to
the next request for it, until the position moves. Requests never see an older figure than the
database holds: a moved position misses the cache and computes afresh (and then replaces the
entries of older positions). Results are handed out as deep copies, so a caller that edits one
cannot change what the next is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models import HUB_POSITION, IngestPositionRow
from shared.memory import collections_paused

T = TypeVar("T")
log = logging.getLogger(__name__)
SESSION_KEY = "versioned_cache"
"""Where a read session finds the cache (its sessionmaker's ``info``); absent:
compute every time."""

Version = tuple[int, str]


def _one(_: Any) -> int:
    return 1


@dataclass
class VersionedCache:
    """Results for the newest data version seen, least recently used first out beyond `capacity`
    (counted in results, or in what `size` says a result weighs)."""

    capacity: int = 256
    size: Callable[[Any], int] = _one
    version: Version | None = None
    hits: int = 0
    misses: int = 0
    _results: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)
    _used: int = 0
    _computing: dict[tuple[Version, Hashable], asyncio.Future[Any]] = field(default_factory=dict)

    def get(self, version: Version, key: Hashable) -> tuple[bool, Any]:
        if version != self.version or key not in self._results:
            return False, None
        self._results.move_to_end(key)
        return True, self._results[key]

    def put(self, version: Version, key: Hashable, value: Any) -> None:
        if self.version is not None and version[0] < self.version[0]:
            # computed from an older snapshot than entries already held: nobody will ask for it
            return
        if version != self.version:
            self._results.clear()
            self._used = 0
            self.version = version
        if key in self._results:
            self._used -= self.size(self._results.pop(key))
        self._results[key] = value
        self._used += self.size(value)
        while self._used > self.capacity and self._results:
            self._used -= self.size(self._results.popitem(last=False)[1])

    async def get_or_compute(
        self,
        version: Version,
        key: Hashable,
        compute: Callable[[], Awaitable[T]],
        still_current: Callable[[], Awaitable[bool]],
    ) -> T:
        """The held result, or one computation shared by every concurrent request for it."""
        found, value = self.get(version, key)
        if found:
            self.hits += 1
            held: T = value  # what `compute` returned for this key and version
            return held
        running = self._computing.get((version, key))
        if running is not None:
            self.hits += 1
            return await asyncio.shield(running)
        self.misses += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._computing[(version, key)] = future
        try:
            with collections_paused():  # a computation's many objects are acyclic: nothing to find
                value = await compute()
            if await still_current():
                self.put(version, key, value)
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            # retrieved here: a failure with no other waiter is not "never retrieved"
            future.exception()
            raise
        finally:
            del self._computing[(version, key)]


async def _position(session: AsyncSession) -> Version:
    """Read afresh (not from the session's identity map), so a second read sees a moved position."""
    row = (
        await session.execute(
            select(IngestPositionRow.applied, IngestPositionRow.chain_head).where(
                IngestPositionRow.name == HUB_POSITION
            )
        )
    ).one()
    return int(row[0]), str(row[1])


async def data_version(session: AsyncSession) -> Version:
    """The data version the session reads: events applied and the hash-chain head."""
    return await _position(session)


async def per_version(
    session: AsyncSession,
    key: Hashable,
    compute: Callable[[], Awaitable[T]],
    *,
    shared: bool = False,
) -> T:
    """`compute()`'s result at the session's data version, computed once per version.

    `shared=True` hands out the held object itself: only for results nobody modifies (the ledger);
    otherwise each caller gets a deep copy."""
    cache: VersionedCache | None = session.info.get(SESSION_KEY)
    if cache is None:
        return await compute()
    version = await _position(session)

    async def unchanged() -> (
        bool
    ):  # under READ COMMITTED (PostgreSQL) a batch may land mid-computation
        return await _position(session) == version

    value = await cache.get_or_compute(version, key, compute, unchanged)
    return value if shared else fresh_copy(value)


_ATOMIC = (str, int, float, bool, Decimal, date, datetime, bytes, type(None))


def fresh_copy(value: T) -> T:
    """A copy sharing nothing mutable with `value`: what ``copy.deepcopy`` gives for the figures
    views return (pydantic models, lists, dicts and plain values), made as pydantic's own deep copy
    makes a model, without deepcopy's bookkeeping per object, which cost more than computing a
    large view (a reach report's thousands of rows). A model with its own ``__deepcopy__`` and
    anything else is deep-copied."""
    kind = type(value)
    if kind in _ATOMIC:
        return value
    if kind is list:
        return [fresh_copy(v) for v in value]  # type: ignore[attr-defined,return-value]
    if kind is dict:
        return {k: fresh_copy(v) for k, v in value.items()}  # type: ignore[attr-defined,return-value]
    if kind is tuple:
        return tuple(fresh_copy(v) for v in value)  # type: ignore[attr-defined,return-value]
    if isinstance(value, BaseModel) and type(value).__deepcopy__ is not BaseModel.__deepcopy__:
        return copy.deepcopy(value)  # the model says how it is copied (a frozen one: itself)
    if (
        isinstance(value, BaseModel)
        and value.__pydantic_extra__ is None
        and value.__pydantic_private__ is None
    ):
        model = kind.__new__(kind)
        object.__setattr__(model, "__dict__", {k: fresh_copy(v) for k, v in value.__dict__.items()})
        object.__setattr__(model, "__pydantic_extra__", None)
        object.__setattr__(model, "__pydantic_fields_set__", set(value.__pydantic_fields_set__))
        object.__setattr__(model, "__pydantic_private__", None)
        return model
    return copy.deepcopy(value)


def once_per_version(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Decorate ``async def f(session, *args)`` to compute once per data version and arguments
    (arguments are told apart by their repr)."""

    @functools.wraps(fn)
    async def wrapper(session: AsyncSession, *args: Any, **kwargs: Any) -> T:
        key = (fn.__module__, fn.__qualname__, repr(args), repr(sorted(kwargs.items())))
        return await per_version(session, key, lambda: fn(session, *args, **kwargs))

    return wrapper


@dataclass
class Warmer:
    """Computes the figures people open first once ingest has been quiet for `after` seconds, so
    the first visitor after a burst of events is served rather than kept waiting. A new batch
    cancels a warm-up in progress (its figures would already be out of date)."""

    warm: Callable[[], Awaitable[None]]
    after: float
    _task: asyncio.Task[None] | None = None

    def hold(self) -> bool:
        """A batch is being applied: no warm-up meanwhile (it would compete with the batch for the
        CPU and be out of date when done). True if one was waiting or running."""
        if self._task is None or self._task.done():
            return False
        self._task.cancel()
        return True

    def poke(self) -> None:
        """Events were applied: start the quiet-period clock again."""
        if self.after <= 0:
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = asyncio.create_task(self._when_quiet(), name="reporting-warm")

    async def _when_quiet(self) -> None:
        await asyncio.sleep(self.after)
        try:
            await self.warm()
        except Exception as exc:  # noqa: BLE001  (a warm-up is an optimisation: a request computes instead)
            log.warning("warming the views failed: %s", exc)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class _Served:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def _who(scope: Scope) -> tuple[Any, ...] | None:
    """Who a request is from, as far as a held response may be reused for it: the user of a live
    dashboard session, else the credentials it carries; None for a dashboard session that has
    ended."""
    app = scope.get("app")
    live = getattr(getattr(app, "state", None), "dashboard_sessions", None)
    sid = (scope.get("session") or {}).get("sid") if "session" in scope else None
    if live is not None and sid:
        user = live.user(sid)
        return ("user", user) if user else None
    headers = dict(scope.get("headers", []))
    return ("credentials", headers.get(b"authorization"), headers.get(b"cookie"))


class ResponsesPerVersion:
    """ASGI middleware: a GET of a report route or dashboard page answered 200 is kept under
    (data version, path and query, credentials, date) and answered again from memory until the
    version moves: rendering a page or serialising a large figure costs more than computing it
    once it is held (docs/reporting.md). Innermost, so it sees requests after the session and
    limits middlewares and keeps no cookies. Who asks is part of the key: the bearer token, or the
    user of a dashboard session that is still live on the server (a signed-out or expired session
    is never served from here, whoever holds a copy of its cookie), so nobody is served a response
    made for someone else; only 200s are kept (a refused request never is)."""

    PREFIXES = ("/report", "/dashboard/")
    NEVER = (
        "/dashboard/static/",
        "/dashboard/login",
        "/dashboard/logout",
        "/dashboard/audit",
        "/report/audit",
    )

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        sessions: Callable[[], Any],
        max_bytes: int = 256 * 2**20,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.max_bytes = max_bytes
        self._held = VersionedCache(capacity=max_bytes, size=lambda served: len(served.body))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._keeps(scope):
            await self.app(scope, receive, send)
            return
        try:
            async with self.sessions() as session:
                version = await _position(session)
        except Exception:  # noqa: BLE001  (database down or not migrated: the route answers for itself)
            await self.app(scope, receive, send)
            return
        who = _who(scope)
        if (
            who is None
        ):  # a dashboard session not (or no longer) signed in: the app answers for itself
            await self.app(scope, receive, send)
            return
        key = self._key(scope, who)
        found, served = self._held.get(version, key)
        if found:
            await send(
                {"type": "http.response.start", "status": served.status, "headers": served.headers}
            )
            await send({"type": "http.response.body", "body": served.body})
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def keep(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self._store(version, key, start, b"".join(chunks))
            await send(message)

        await self.app(scope, receive, keep)

    def _keeps(self, scope: Scope) -> bool:
        path = scope.get("path", "")
        return (
            scope["type"] == "http"
            and scope.get("method") == "GET"
            and path.startswith(self.PREFIXES)
            and not path.startswith(self.NEVER)
        )

    @staticmethod
    def _key(scope: Scope, who: tuple[Any, ...]) -> tuple[Any, ...]:
        return (scope["path"], scope.get("query_string", b""), who, date.today())

    def _store(
        self, version: Version, key: tuple[Any, ...], start: dict[str, Any], body: bytes
    ) -> None:
        headers = list(start.get("headers", []))
        if start.get("status") != 200 or any(k.lower() == b"set-cookie" for k, _ in headers):
            return
        if len(body) > self.max_bytes // 4:
            return  # one huge download would push out every page
        self._held.put(version, key, _Served(start["status"], headers, body))
