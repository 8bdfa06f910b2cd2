"""Operator commands find the deployment's NATS from its data folder, and fail fast when they can't.

``hub hub up`` and ``hub node up`` write the servers' configs under ``<data_dir>/nats``
(``hub.conf``, ``<node>.conf``: each says where it listens) and the passwords under
``<data_dir>/secrets/secrets.json``. ``Located`` reads both, so ``hub rebuild``,
``hub audit verify --stream``, ``hub data-health``, ``hub dlq …`` and ``hub node recover`` connect
as the right user without a URL on the command line. ``HUB_NATS_URL`` (or ``--nats-url``) still
wins; a folder without a deployment falls back to the embedded server of ``hub nats``.

``connect_once`` tries once, with a short timeout, and turns every way of failing into an
``OperatorError``: one line naming the server and the user (never a password), for the CLI to print
before exiting non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats
import nats.errors
from nats.aio.client import Client
from nats.js.errors import APIError

from shared.files import write_private
from shared.settings import HubSettings

EMBEDDED_URL = "nats://127.0.0.1:14222"
TIMEOUT = 3.0
_reached: list[str] = []
"""The servers this command has connected to (`user@host:port`), named when one does not answer."""
_LISTEN = re.compile(r"^listen:\s*(\S+):(\d+)\s*$", re.MULTILINE)


class OperatorError(Exception):
    """Why an operator command cannot go on, in one line."""


@dataclass(frozen=True)
class Located:
    """A deployment laid out by ``hub hub up`` / ``hub node up`` under one data folder."""

    data_dir: Path
    secrets: dict[str, Any]

    @classmethod
    def find(cls, data_dir: Path) -> Located | None:
        """The deployment under `data_dir`, or None when none was laid out there."""
        path = data_dir / "secrets" / "secrets.json"
        if not path.is_file():
            return None
        try:
            return cls(data_dir, json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise OperatorError(f"cannot read {path}: {exc}") from None

    def _listen(self, name: str) -> str:
        conf = self.data_dir / "nats" / f"{name}.conf"
        match = _LISTEN.search(conf.read_text()) if conf.is_file() else None
        if match is None:
            raise OperatorError(
                f"no NATS config at {conf}: start it once with `hub "
                f"{'hub' if name == 'hub' else 'node'} up`"
            )
        return f"{match[1]}:{match[2]}"

    def _password(self, *keys: str) -> str:
        value: Any = self.secrets.get("nats", {})
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, str):
            raise OperatorError(
                f"no NATS password for {'.'.join(keys)} in "
                f"{self.data_dir / 'secrets' / 'secrets.json'}"
            )
        return value

    def hub_url(self, user: str = "admin") -> str:
        """The hub's nats-server as `user` (admin, reporting)."""
        return f"nats://{user}:{self._password('hub', user)}@{self._listen('hub')}"

    def node_url(self, node: str, user: str = "admin") -> str:
        """A node's own nats-server as `user` (admin, services)."""
        return f"nats://{user}:{self._password('nodes', node, user)}@{self._listen(node)}"


def hub_nats_url(settings: HubSettings, given: str | None = None, user: str = "admin") -> str:
    """Where the hub stream is: `given`, else HUB_NATS_URL, else the deployment's hub server,
    else `hub nats`."""
    if given or settings.nats_url:
        return given or settings.nats_url or EMBEDDED_URL
    located = Located.find(settings.data_dir)
    return located.hub_url(user) if located else EMBEDDED_URL


def node_nats_url(settings: HubSettings, node: str, given: str | None = None) -> str:
    """A node's own server as its admin: `given`, else the deployment's, else the hub's
    (one server)."""
    if given:
        return given
    located = Located.find(settings.data_dir)
    if located is not None and (settings.data_dir / "nats" / f"{node}.conf").is_file():
        return located.node_url(node)
    return hub_nats_url(settings)


def where(url: str) -> str:
    """A URL without its password: `user@host:port`."""
    parts = [urlsplit(u.strip()) for u in url.split(",")]
    return ",".join(
        f"{p.username + '@' if p.username else ''}{p.hostname}:{p.port or 4222}" for p in parts
    )


async def connect_once(url: str, name: str, timeout: float = TIMEOUT) -> Client:
    """Connect once, within `timeout`; ``OperatorError`` naming the server when it cannot."""
    failures: list[str] = []

    async def on_error(exc: Exception) -> None:
        failures.append(str(exc) or type(exc).__name__)

    try:
        # nats-py retries the first connect until max_reconnect_attempts is passed
        # (0 means forever here)
        nc = await asyncio.wait_for(
            nats.connect(
                servers=url.split(","),
                name=name,
                connect_timeout=timeout,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.2,
                error_cb=on_error,
            ),
            2 * timeout + 1,
        )
        _reached.append(where(url))
        return nc
    except Exception as exc:  # refused, unreachable, authorization violation, TLS: one line each
        reason = (
            next((f for f in failures if "authorization" in f.lower()), None)
            or next(iter(failures), None)
            or str(exc)
            or type(exc).__name__
        )
        if "authorization" in reason.lower():
            raise OperatorError(
                f"NATS at {where(url)} refused the login ({reason.strip()!s}): check the password "
                "in <data_dir>/secrets/secrets.json"
            ) from None
        raise OperatorError(
            f"cannot reach NATS at {where(url)} ({reason.strip()}): is it running? "
            "(HUB_NATS_URL, --nats-url or --data-dir say where)"
        ) from None


@contextlib.asynccontextmanager
async def nats_session(url: str, name: str, timeout: float = TIMEOUT) -> AsyncIterator[Client]:
    """A connection for one command; JetStream timeouts and refusals inside
    become ``OperatorError``."""
    nc = await connect_once(url, name, timeout)
    try:
        with jetstream_errors(url):
            yield nc
    finally:
        await nc.close()


@contextlib.contextmanager
def jetstream_errors(url: str | None = None) -> Iterator[None]:
    """A JetStream call that times out is almost always a permission the user lacks: say so in
    one line, naming `url` (by default, the servers the command connected to)."""
    try:
        yield
    except (nats.errors.TimeoutError, TimeoutError) as exc:
        raise OperatorError(
            f"no answer from JetStream at {_at(url)}: the user may lack the permission, or the "
            f"stream is not there ({type(exc).__name__})"
        ) from None
    except nats.errors.NoRespondersError:
        raise OperatorError(f"JetStream is not enabled for {_at(url)} (no responders)") from None
    except APIError as exc:
        if getattr(exc, "code", None) == 404:
            raise
        raise OperatorError(f"JetStream at {_at(url)} refused: {exc.description or exc}") from None


def _at(url: str | None) -> str:
    return where(url) if url else ", ".join(dict.fromkeys(_reached)) or "the server"


@contextlib.contextmanager
def operator_errors() -> Iterator[None]:
    """Around one operator command: a JetStream call that fails names the servers it reached."""
    _reached.clear()
    with jetstream_errors():
        yield


SERVICES_FILE = "services.json"
"""Under a data folder: where its node services listen (``coventry/activities`` → URL)."""


def record_services(data_dir: Path, urls: dict[tuple[str, str], str]) -> None:
    """Note where each (node, service) listens, as the demo and ``hub node up`` start them, so
    operator commands print links at the running service's address (``hub activities invite``)."""
    path = data_dir / SERVICES_FILE
    known = _services(path) | {f"{n}/{s}": _reachable(url) for (n, s), url in urls.items()}
    write_private(path, json.dumps(known, indent=2, sort_keys=True) + "\n")  # as the rest


def service_url(data_dir: Path, node: str, service: str) -> str | None:
    """Where a running deployment's node service listens, if one recorded it under `data_dir`."""
    return _services(data_dir / SERVICES_FILE).get(f"{node}/{service}")


def _services(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def _reachable(url: str) -> str:
    """A URL this machine can open: a wildcard listen address as the loopback one."""
    return re.sub(r"^(https?://)(0\.0\.0\.0|\[::\])(?=:)", r"\g<1>127.0.0.1", url)
