"""What every node service (partners, activities, funding) needs at run time, built one way.

A service's ``app.py`` names its tables and migrations and its routes; this module opens the
database and migrates it, connects to NATS, makes sure the node's stream exists, and runs the
outbox relay for as long as the service runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from nats.aio.client import Client
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import MetaData
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.asyncapi import asyncapi_document
from shared.auth import Scope, TokenAuthenticator, declare, guard, require_declared
from shared.bus import connect, ensure_node_stream
from shared.db import (
    create_engine,
    database_status,
    migrate,
    migrate_when_possible,
    session_factory,
)
from shared.errors import Invalid, Refused
from shared.http import LimitsMiddleware, install, mount_docs, safe_detail
from shared.node_position import NodeBehindItsEvents, check_outbox_position
from shared.outbox import Outbox, Producer, UnitOfWork
from shared.processes import Stopping
from shared.relay import OutboxRelay, failure_reason
from shared.settings import HubSettings
from shared.signing import NodeSigner, load_node_signer
from shared.telemetry import Telemetry, configure_process

log = logging.getLogger(__name__)


class BehindItsEvents(Refused):
    """A write while the database is behind its own events:
    it would reuse a sequence the hub has."""

    status_code = 503


class RefusingUnitOfWork(UnitOfWork):
    """Reads as usual; any event emitted is refused (and its transaction rolled back)."""

    def __init__(self, reason: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reason = reason

    async def emit(self, *args: Any, **kwargs: Any) -> Any:
        raise BehindItsEvents(self.reason)


@dataclass
class NodeService:
    """A running service of one node: identity, database, outbox and
    (once started) NATS and relay."""

    settings: HubSettings
    node: str
    name: str
    metadata: MetaData
    migrations_dir: Path
    nats_url: str
    signer: NodeSigner | None = None
    telemetry: Telemetry = field(default_factory=Telemetry.quiet)
    """Its spans and metrics (`service_telemetry`, as its app's `build_service` gives them)."""
    engine: AsyncEngine = field(init=False)
    read_engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    read_sessions: async_sessionmaker[AsyncSession] = field(init=False)
    outbox: Outbox = field(init=False)
    relay: OutboxRelay | None = field(default=None, init=False)
    nats: Client | None = field(default=None, init=False)
    _relay_task: asyncio.Task[None] | None = field(default=None, init=False)
    _attached: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    refusal: str | None = field(default=None, init=False)
    """Set when the database is behind its own events in the streams:
    nothing is published or written."""

    def __post_init__(self) -> None:
        check_hub_node(
            self.settings, self.node
        )  # before anything (a database, a folder) is created for it
        url = self.settings.node_database_url(self.node, self.name)
        self.engine = create_engine(url)
        self.read_engine = create_engine(url, writer=False)
        self.telemetry.instrument_engine(self.engine)
        self.telemetry.instrument_engine(self.read_engine)
        self.sessions = session_factory(self.engine)
        self.read_sessions = session_factory(self.read_engine)
        producer = Producer(
            self.settings.hub, self.node, self.name, nodes=tuple(self.settings.nodes)
        )
        self.outbox = Outbox(
            producer, self.metadata.tables["outbox"], self.metadata.tables["outbox_cursor"]
        )

    async def start(self, *, relay: bool = True, attach_timeout: float = 2.0) -> None:
        """As a server (`relay`): migrate, connect and relay in the background, so the service
        answers HTTP (not ready) while its database or NATS is down and becomes ready when they
        answer; writes are accepted once the database is there even while NATS is down.
        Offline (CLI): just migrate, and fail if the database cannot be reached; the events it
        writes wait in the outbox for the node's running relay, which signs them as it publishes
        them.
        A node configured to sign whose key cannot be read fails here (`MissingNodeKey`)."""
        if not relay:
            await migrate(self.engine, self.migrations_dir)
            return
        if self.signer is None:
            self.signer = load_node_signer(
                self.settings.node_key_file, self.settings.secrets_dir, self.node
            )
        self._relay_task = asyncio.create_task(
            self._attach_and_relay(), name=f"relay-{self.node}-{self.name}"
        )
        with contextlib.suppress(
            TimeoutError
        ):  # a dependency down: carry on, the task keeps trying
            await asyncio.wait_for(self._attached.wait(), attach_timeout)

    async def _attach_and_relay(self) -> None:
        """Migrate and connect (retrying forever), make sure the node's stream exists,
        then relay."""
        await migrate_when_possible(self.engine, self.migrations_dir, f"{self.node} {self.name}")
        self.nats = await connect(self.nats_url, f"{self.node}-{self.name}")
        js = self.nats.jetstream()
        backoff = 0.1
        while self.settings.declare_streams:
            try:
                await ensure_node_stream(
                    js, self.settings.hub, self.node, self.settings.duplicate_window_seconds
                )
                break
            except Exception as exc:  # JetStream not answering yet: retry, never give up
                log.warning("%s %s: stream not declared yet: %s", self.node, self.name, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        try:
            await check_outbox_position(
                self.read_sessions, self.outbox, self.nats, self.settings.node_domains
            )
        except NodeBehindItsEvents as exc:  # publishing now would reuse sequences the hub has seen
            self.refusal = str(exc)
            log.error("%s", exc)
            self._attached.set()
            return
        self.relay = OutboxRelay(
            self.sessions,
            self.outbox,
            self.nats,
            read_sessions=self.read_sessions,
            signer=self.signer,
            telemetry=self.telemetry,
        )
        self._attached.set()
        await self.relay.run()

    async def stop(self) -> None:
        """Stop relaying and close connections; safe to call twice."""
        if self._relay_task is not None:
            self._relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay_task
            self._relay_task = None
        if self.nats is not None:
            await let_go(self.nats, f"{self.node} {self.name}")
        self.nats = None
        await self.engine.dispose()
        await self.read_engine.dispose()

    def unit_of_work(self, correlation_id: UUID | None = None) -> UnitOfWork:
        wake = self.relay.wake if self.relay else None
        if self.refusal is not None:
            return RefusingUnitOfWork(
                self.refusal, self.sessions, self.outbox, correlation_id=correlation_id
            )
        return UnitOfWork(self.sessions, self.outbox, on_commit=wake, correlation_id=correlation_id)

    async def readiness(self) -> dict[str, Any]:
        """What a load balancer needs to know: can we write, and is NATS taking our events."""
        checks: dict[str, Any] = {"database": await database_status(self.read_sessions)}
        checks["nats"] = "ok" if self.nats is not None and self.nats.is_connected else "unavailable"
        relay_ok = self.relay is not None
        if self.relay is not None:
            try:  # a real query of the service's own tables, not only SELECT 1
                checks["outbox_backlog"] = await self.relay.backlog()
            except Exception as exc:  # report, don't crash the probe
                checks["database"] = f"unavailable: {failure_reason(exc)}"
            checks["relay"], relay_ok = relay_status(self.relay)
        if self.refusal is not None:
            checks["refused"] = self.refusal
        checks["ready"] = checks["database"] == "ok" and checks["nats"] == "ok" and relay_ok
        return checks


RELAY_FAILURES_NOT_READY = 5
"""Relay attempts failed in a row (backing off: some seconds) before the service is not ready."""


def relay_status(relay: OutboxRelay) -> tuple[str, bool]:
    """The relay as readiness reports it: a blip is retried; one that keeps failing is not ready."""
    if relay.failing is None:
        return "ok", True
    count, reason = relay.failing
    return f"failing ({count} attempts): {reason}", count < RELAY_FAILURES_NOT_READY


async def let_go(nc: Client, who: str) -> None:
    """Drain a connection (close it if it is down): a server already gone, as when the node's NATS
    stops with it, is one warning, and the service's stop goes on to its databases."""
    try:
        if nc.is_connected:
            await nc.drain()
        elif not nc.is_closed:
            await nc.close()
    except Exception as exc:  # the connection is lost either way
        log.warning("%s: NATS connection lost while stopping: %s", who, failure_reason(exc))


class UnknownNode(Invalid):
    """A node service asked for a node that is not one of the hub's (`HUB_NODES`)."""


def check_hub_node(settings: HubSettings, node: str) -> None:
    """The hub's nodes are a closed set: every node service (HTTP, `hub serve`, the CLI) is built
    for one of them or not at all."""
    if node not in settings.nodes:
        allowed = ", ".join(settings.nodes)
        raise UnknownNode(
            f"{node!r} is not one of the hub's nodes ({allowed}; HUB_NODES)",
            {"node": f"{node!r} is not one of the hub's nodes: one of {allowed}"},
        )


def service_of(request: Request) -> NodeService:
    service: NodeService = request.app.state.service
    return service


ServiceDep = Annotated[NodeService, Depends(service_of)]


async def unit_of_work(request: Request) -> UnitOfWork:
    """A fresh unit of work per request; correlation id from ``X-Correlation-ID`` when given."""
    header = request.headers.get("x-correlation-id")
    correlation = None
    if header:
        with contextlib.suppress(ValueError):
            correlation = UUID(header)
    return service_of(request).unit_of_work(correlation)


UnitOfWorkDep = Annotated[UnitOfWork, Depends(unit_of_work)]


def refused_response(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    detail = [
        {"loc": ["body", name], "msg": msg, "type": "refused"} for name, msg in exc.fields.items()
    ]
    content = {"detail": detail or exc.reason, "reason": exc.reason}
    return JSONResponse(status_code=exc.status_code, content=safe_detail(content))


def database_unavailable_response(_request: Request, exc: Exception) -> JSONResponse:
    """Locked, full or unreachable database: the transaction rolled back, so say 503 and why.
    Errors that are about the statement, not the database's health, remain server errors."""
    if isinstance(exc, (IntegrityError, DataError, ProgrammingError)):
        log.error("database refused a statement", exc_info=exc)
        return JSONResponse(status_code=500, content={"detail": "internal error"})
    reason = str(getattr(exc, "orig", exc) or type(exc).__name__)
    log.warning("database unavailable: %s", reason)
    return JSONResponse(
        status_code=503,
        content={"detail": "database unavailable", "reason": reason},
        headers={"Retry-After": "1"},
    )


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health/live", summary="The process is up")
    @declare(Scope.OPEN)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready", summary="Database and NATS reachable")
    @declare(Scope.OPEN)
    async def ready(request: Request) -> JSONResponse:
        checks = await request.app.state.readiness()
        return JSONResponse(status_code=200 if checks.get("ready") else 503, content=checks)

    return router


def metrics_router(telemetry: Telemetry, allowed: list[IPv4Network | IPv6Network]) -> APIRouter:
    """``/metrics`` for Prometheus: open, like health, but only to clients in `allowed`
    (``HUB_METRICS_FROM``, loopback by default). No API token is kept on the monitoring host, and
    the series hold no figures and no personal data: counts and timings, labels from closed sets."""
    router = APIRouter(tags=["health"])

    @router.get("/metrics", summary="Metrics in Prometheus' text format", include_in_schema=False)
    @declare(Scope.OPEN)
    async def exposition(request: Request) -> Response:
        client = client_address(request)
        if client is None or not any(client in network for network in allowed):
            raise HTTPException(403, "metrics are served only to HUB_METRICS_FROM")
        return Response(telemetry.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router


def client_address(request: Request) -> IPv4Address | IPv6Address | None:
    """The caller's IP address (an IPv4 client of a dual-stack listener as IPv4), if it has one."""
    try:
        address = ip_address(request.client.host) if request.client else None
    except ValueError:  # not an address (a test client's name, a Unix socket)
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def create_http_app(
    title: str,
    description: str,
    routers: list[APIRouter],
    lifespan: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]],
    settings: HubSettings,
    node: str | None,
    asyncapi: dict[str, Any],
    session_routers: Sequence[APIRouter] = (),
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """A FastAPI app with the house conventions: health endpoints open, everything else behind
    the token guard (when tokens are configured), size and rate limits, security headers, refusals
    as field-level 4xx quoting little of the input (shared/http.py), docs from vendored assets,
    and `asyncapi` (the AsyncAPI document of the events the app sends or receives).
    A node service's routes are all its `node`'s; reporting's (`node` None) each declare a scope.
    `session_routers` are web pages that sign their callers in themselves (a partner's invitation
    session, staff's at the node) and apply the same policy (`authorize`); each route declares its
    scope, or the app refuses to build.
    Requests are traced and counted with the service's own `telemetry`, served on ``/metrics``.
    """
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    telemetry = telemetry or Telemetry.quiet()
    authenticator = (
        TokenAuthenticator.from_file(settings.auth_tokens_file)
        if settings.auth_tokens_file
        else None
    )
    app = FastAPI(
        title=title,
        description=description,
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(Refused, refused_response)
    app.add_exception_handler(DBAPIError, database_unavailable_response)
    app.add_middleware(
        LimitsMiddleware,
        max_bytes=settings.max_request_bytes,
        per_minute=settings.rate_limit_per_minute,
    )
    install(app)  # after the limits: their 413 and 429 carry the security headers too
    app.include_router(health_router())
    if telemetry.registry is not None:
        app.include_router(metrics_router(telemetry, settings.metrics_from))
    mount_docs(app, asyncapi)
    for router in routers:
        app.include_router(router, dependencies=[Depends(guard(authenticator, node))])
    pages = FastAPI()
    for router in session_routers:
        pages.include_router(router)
        app.include_router(router)
    require_declared(pages)
    app.state.authenticator = authenticator
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        excluded_urls="/metrics",  # the scraper's own requests are not the service's traffic
    )
    return app


def node_service_app(
    service: NodeService,
    title: str,
    description: str,
    routers: list[APIRouter],
    session_routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The HTTP app of a node service: starts and stops the service with the server."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    events = asyncapi_document(f"{title}: events", sends=[service.name])
    app = create_http_app(
        f"{title} ({service.node})",
        description,
        routers,
        lifespan,
        service.settings,
        service.node,
        events,
        session_routers,
        service.telemetry,
    )
    app.state.service = service
    app.state.readiness = service.readiness
    return app


async def serve_node_service(
    settings: HubSettings,
    name: str,
    node: str,
    make_app: Callable[[str], FastAPI],
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    nats_url: str | None = None,
) -> None:
    """One node service as a process, however it is started (`hub serve`, `hub node up`, the
    deploy units): logging and tracing named for it (``service.name`` hub-ledger-<name>, the node
    a resource attribute), its signer (resolved by `NodeService.start`), its app (`make_app` given
    the NATS URL: ``HUB_NATS_URL`` unless one is passed) on its port
    (``HUB_<NAME>_PORT`` plus 10 per node), until SIGINT or SIGTERM."""
    check_hub_node(settings, node)
    configure_process(settings, name, node)
    url = nats_url or settings.nats_servers
    await serve_http(lambda: make_app(url), host, port or settings.service_port(name, node))


async def serve_http(make_app: Callable[[], FastAPI], host: str, port: int) -> None:
    """Build the app and serve it until SIGINT or SIGTERM, then return (so the caller's clean-up
    runs: a stream watcher, a NATS server) rather than re-raise the signal as uvicorn does. The
    process's ``Stopping`` answers the signals (``shared/processes.py``): a stop asked for while
    starting ends it quietly, one while serving shuts the server down as uvicorn does."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # Stopping's handlers stop it instead
            yield

    async def stop_when_asked(server: Server) -> None:
        await stopping.wait()
        server.should_exit = True

    stopping = Stopping.current()
    with stopping.serving():
        app = make_app()
        if stopping.event.is_set():
            return
        server = Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
        stopper = asyncio.create_task(stop_when_asked(server))
        try:
            await server.serve()
        finally:
            stopper.cancel()
