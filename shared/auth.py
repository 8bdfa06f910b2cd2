"""Who may call the HTTP APIs: bearer tokens with roles, plus request-size and rate limits.

Roles: ``node_staff`` (read and write their own node's services, read hub reports),
``consortium_manager`` (read everything), ``auditor`` (read everything, write nothing).
Tokens are stored as SHA-256 digests, so the tokens file reveals nothing usable. The
``Authenticator`` protocol is the seam for an OIDC provider: verify a JWT, return a Principal.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from fastapi import HTTPException, Request
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


class Role(StrEnum):
    NODE_STAFF = "node_staff"
    CONSORTIUM_MANAGER = "consortium_manager"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    node: str | None = None


class Authenticator(Protocol):
    def authenticate(self, credential: str) -> Principal | None: ...


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenAuthenticator:
    """Bearer tokens from a JSON file: ``{"<sha256>": {"name": …, "role": …, "node": …}}``."""

    def __init__(self, entries: dict[str, dict[str, str]]) -> None:
        self._by_digest = {
            digest: Principal(e["name"], Role(e["role"]), e.get("node")) for digest, e in entries.items()
        }

    @classmethod
    def from_file(cls, path: Path) -> TokenAuthenticator:
        return cls(json.loads(path.read_text()))

    def authenticate(self, credential: str) -> Principal | None:
        return self._by_digest.get(token_digest(credential))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def may(principal: Principal, method: str, node: str | None) -> bool:
    """The access rule. `node` is the node whose service is called (None: the hub's reporting)."""
    reading = method in READ_METHODS
    if principal.role is Role.NODE_STAFF:
        return (node is None and reading) or node == principal.node
    return reading


def guard(authenticator: Authenticator | None, node: str | None):  # type: ignore[no-untyped-def]
    """A FastAPI dependency that authenticates the caller and applies ``may``."""

    async def check(request: Request) -> Principal | None:
        if authenticator is None:
            return None  # development mode: no tokens configured
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        principal = authenticator.authenticate(credential) if scheme.lower() == "bearer" and credential else None
        if principal is None:
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        if not may(principal, request.method, node):
            raise HTTPException(403, f"{principal.role} {principal.name} may not {request.method} here")
        request.state.principal = principal
        return principal

    return check


class LimitsMiddleware(BaseHTTPMiddleware):
    """Refuse oversized bodies (413) and clients over their per-minute budget (429)."""

    def __init__(self, app: ASGIApp, max_bytes: int, per_minute: int) -> None:
        super().__init__(app)
        self._max_bytes = max_bytes
        self._per_minute = per_minute
        self._windows: dict[str, tuple[int, int]] = {}

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self._max_bytes):
            return JSONResponse({"detail": f"request body over {self._max_bytes} bytes"}, status_code=413)
        if not self._allow(self._client_key(request)):
            return JSONResponse({"detail": "rate limit exceeded; retry in a minute"}, status_code=429,
                                headers={"Retry-After": "60"})
        return await call_next(request)

    @staticmethod
    def _client_key(request: Request) -> str:
        auth = request.headers.get("authorization")
        if auth:
            return "t:" + token_digest(auth)
        return "ip:" + (request.client.host if request.client else "?")

    def _allow(self, key: str) -> bool:
        minute = int(time.monotonic() // 60)
        window, count = self._windows.get(key, (minute, 0))
        if window != minute:
            window, count = minute, 0
        if count >= self._per_minute:
            return False
        self._windows[key] = (window, count + 1)
        if len(self._windows) > 10_000:  # forget idle clients; bounded memory under address churn
            self._windows = {k: v for k, v in self._windows.items() if v[0] == minute}
        return True
