"""Who may call the HTTP APIs: bearer tokens with roles (size and rate limits: shared/http.py).

Roles: ``node_staff`` (read and write their own node's services, read hub reports),
``consortium_manager`` (read everything), ``auditor`` (read everything, write nothing).
Tokens are stored as SHA-256 digests, so the tokens file reveals nothing usable. The
``Authenticator`` protocol is the seam for an OIDC provider: verify a JWT, return a Principal.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from fastapi import HTTPException, Request

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
