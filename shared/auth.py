"""Who may call the HTTP APIs and open the dashboard: principals with roles, and the one access
policy every route of every service is decided by (size and rate limits: shared/http.py).

Roles: ``node_staff`` (read and write their own node's services; read their own node's figures,
partners, evidence and traces in reporting, and the hub's published figures),
``consortium_manager`` and ``auditor`` (read everything, write nothing), and ``partner`` (a
partner's session, opened by its invitation link, at one node: its own return and nothing else),
and ``node_service`` (a node's service reading another service of the same node: node staff's
reads, no writes).
Each route declares its `Scope` where it is defined (`declare`); `may` decides for the JSON
APIs, the exports and the dashboard alike, from the principal, the declared scope and what the
request names (`Ask`).
Tokens are stored as SHA-256 digests, so the tokens file reveals nothing usable. The
``Authenticator`` protocol is the seam for an OIDC provider: verify a JWT, return a Principal.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


class Role(StrEnum):
    NODE_STAFF = "node_staff"
    CONSORTIUM_MANAGER = "consortium_manager"
    AUDITOR = "auditor"
    PARTNER = "partner"
    NODE_SERVICE = "node_service"
    """One node service reading another of its node (activities asking partners for settings):
    node staff's reads, no writes."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's holder or a dashboard user (the same for the policy)."""

    name: str
    role: Role
    node: str | None = None
    areas: tuple[str, ...] = ()
    """Node staff: the local authority areas they see (default: the area named like their node)."""
    return_id: str | None = None
    """A partner: the one return its session reaches."""

    def __post_init__(self) -> None:
        if not self.areas and self.node:
            object.__setattr__(self, "areas", (self.node,))

    @property
    def whole_hub(self) -> bool:
        return self.role in (Role.CONSORTIUM_MANAGER, Role.AUDITOR)


class Scope(StrEnum):
    """What a route reads or writes, declared where the route is defined (see the policy table in
    docs/dashboard.md and deploy/README.md)."""

    OPEN = "open"
    """No sign-in: health, the sign-in page."""
    PUBLISHED = "published"
    """Figures published with small counts suppressed, or no figures at all: anyone signed in."""
    NODE = "node"
    """One node's figures, partners, evidence and traces (or writes): its own staff,
    managers, auditors."""
    HUB = "hub"
    """Hub-wide figures, every node side by side, the 360Giving file, the audit:
    managers and auditors."""
    PARTNER = "partner"
    """A partner's own return at its node (docs/partner-returns.md): that partner's session only."""


@dataclass(frozen=True)
class Ask:
    """What a request names: a node, an area, or the whole hub (neither). `own_by_default`: the
    route narrows to a node, so node staff naming none get their own node."""

    node: str | None = None
    area: str | None = None
    own_by_default: bool = False
    scope: Scope | None = None
    """Overrides the route's declared scope (a route over a catalogue takes its entry's scope)."""
    partner_return: str | None = None
    """The partner return a partner's page works on."""


def effective(principal: Principal | None, scope: Scope, ask: Ask) -> Ask:
    """The request as the policy narrows it: node staff naming no node on a node-scoped route that
    narrows by node get their own node (what the route then reads)."""
    if (
        principal is not None
        and not principal.whole_hub
        and (ask.scope or scope) is Scope.NODE
        and ask.own_by_default
        and ask.node is None
    ):
        return replace(ask, node=principal.node)
    return ask


def may(principal: Principal, method: str, scope: Scope, ask: Ask = Ask()) -> bool:
    """The access policy, for every service, page and export. Managers and auditors read
    everything and write nothing; node staff write and read their own node only, and read
    what the hub publishes; a partner reaches its own return and nothing else, and nobody else
    reaches a partner's pages."""
    scope = ask.scope or scope
    if scope is Scope.OPEN:
        return True
    if principal.role is Role.PARTNER or scope is Scope.PARTNER:
        return (
            principal.role is Role.PARTNER
            and scope is Scope.PARTNER
            and principal.return_id is not None
            and ask.partner_return == principal.return_id
        )
    ask = effective(principal, scope, ask)
    if method not in READ_METHODS:
        return (
            scope is Scope.NODE and principal.role is Role.NODE_STAFF and ask.node == principal.node
        )
    if principal.whole_hub or scope is Scope.PUBLISHED:
        return True
    if scope is Scope.HUB:
        return False
    return (
        (ask.node is not None or ask.area is not None)
        and ask.node in (None, principal.node)
        and (ask.area is None or ask.area in principal.areas)
    )


AskOf = Callable[[Request], Ask]
E = TypeVar("E", bound=Callable[..., Any])


def named_by_filters(request: Request) -> Ask:
    """Routes narrowed by ``?node=`` / ``?area=`` (or a path parameter of that name)."""
    params = {**request.query_params, **request.path_params}
    return Ask(
        node=params.get("node") or None, area=params.get("area") or None, own_by_default=True
    )


def named_in_path(request: Request) -> Ask:
    """Routes about one node's entry: ``{node}`` (or ``{ledger_node}``) in the path."""
    return Ask(node=request.path_params.get("node") or request.path_params.get("ledger_node"))


def names_nothing(_request: Request) -> Ask:
    return Ask()


@dataclass(frozen=True)
class Access:
    scope: Scope
    ask: AskOf = field(default=names_nothing)


ACCESS_ATTRIBUTE = "__hub_access__"


def declare(scope: Scope, ask: AskOf = names_nothing) -> Callable[[E], E]:
    """Mark a route's endpoint with its scope and how to read what a request names."""

    def mark(endpoint: E) -> E:
        setattr(endpoint, ACCESS_ATTRIBUTE, Access(scope, ask))
        return endpoint

    return mark


def access_of(endpoint: Any) -> Access | None:
    return getattr(endpoint, ACCESS_ATTRIBUTE, None)


def api_routes(app: FastAPI) -> Iterator[RouteContext]:
    """Every path operation of `app`, however its routers were included (FastAPI's own table)."""
    return (r for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute))


def undeclared(app: FastAPI) -> list[str]:
    """Routes of `app` without a declared scope (an app with any refuses to start)."""
    return [
        f"{sorted(r.methods or ())} {r.path}"
        for r in api_routes(app)
        if access_of(r.endpoint) is None
    ]


def require_declared(app: FastAPI) -> FastAPI:
    missing = undeclared(app)
    if missing:
        raise RuntimeError(
            f"routes without a declared access scope (shared.auth.declare): {', '.join(missing)}"
        )
    return app


def request_access(request: Request, node: str | None = None) -> tuple[Scope, Ask]:
    """The scope and what the request names: a node service's routes are all its node's; any
    other route says so itself."""
    if node is not None:
        return Scope.NODE, Ask(node=node)
    access = access_of(request.scope.get("endpoint"))
    if access is None:  # require_declared keeps this from happening in a built app
        raise HTTPException(500, "route without a declared access scope")
    ask = access.ask(request)
    return ask.scope or access.scope, ask


def require(principal: Principal, method: str, scope: Scope, ask: Ask = Ask()) -> None:
    """`may`, or a 403 saying why (for what a route learns only from its data, e.g. a
    partner's node)."""
    if not may(principal, method, scope, ask):
        raise HTTPException(
            403,
            f"{principal.role} {principal.name} may not {method} here ({ask.scope or scope} scope)",
        )


def authorize(principal: Principal, request: Request, node: str | None = None) -> Principal:
    """Apply the policy to a request, remembering who asked (routes narrow by it: `effective`)."""
    scope, ask = request_access(request, node)
    require(principal, request.method, scope, ask)
    request.state.principal = principal
    return principal


class Authenticator(Protocol):
    def authenticate(self, credential: str) -> Principal | None: ...


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenAuthenticator:
    """Bearer tokens from a JSON file:
    ``{"<sha256>": {"name": …, "role": …, "node": …, "areas": […]}}``."""

    def __init__(self, entries: dict[str, dict[str, Any]]) -> None:
        self._by_digest = {
            digest: Principal(
                e["name"], Role(e["role"]), e.get("node") or None, tuple(e.get("areas") or ())
            )
            for digest, e in entries.items()
        }

    @classmethod
    def from_file(cls, path: Path) -> TokenAuthenticator:
        return cls(json.loads(path.read_text()))

    def authenticate(self, credential: str) -> Principal | None:
        return self._by_digest.get(token_digest(credential))


def service_token_path(secrets_dir: Path, node: str) -> Path:
    """Where a node's services find the token they read each other with (`hub secrets init`)."""
    return secrets_dir / f"{node}-service.token"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def guard(
    authenticator: Authenticator | None, node: str | None
) -> Callable[[Request], Awaitable[Principal | None]]:
    """A FastAPI dependency that authenticates the caller and applies the policy: every route of a
    node service is its `node`'s; reporting's routes (`node` None) declare their own scope."""

    async def check(request: Request) -> Principal | None:
        if authenticator is None:
            return None  # development mode: no tokens configured
        if node is None and request_access(request)[0] is Scope.OPEN:
            return None
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        principal = (
            authenticator.authenticate(credential)
            if scheme.lower() == "bearer" and credential
            else None
        )
        if principal is None:
            raise HTTPException(
                401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        return authorize(principal, request, node)

    return check
