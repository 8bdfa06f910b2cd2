"""Test helpers: a whole hub started in-process, and polling for eventual consistency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from hub.runner import NODE_SERVICES, Wiring
from services.reporting.ingest.consumer import ReportingService
from services.reporting.read.queries import HubReport, hub_report
from shared.identity import SERVICES
from shared.node_service import NodeService
from shared.settings import HubSettings
from shared.telemetry import Telemetry, service_telemetry

T = TypeVar("T")


async def wait_for(
    check: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 15.0
) -> T:
    """Poll `check` until `done(value)`; return the last value
    (the assertion that follows says why)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


class System:
    """Reporting and the node services of `settings.nodes`,
    each with its HTTP app on an ASGI transport."""

    def __init__(
        self,
        settings: HubSettings,
        nats_url: str,
        wiring: Wiring | None = None,
        tokens: dict[str, str] | None = None,
        telemetry: Callable[[str, str | None], Telemetry] | None = None,
    ) -> None:
        """One server at `nats_url`, or per-node servers, signers and keys as `wiring` says.

        `tokens` maps a node to its staff token (and "hub" to a reader's), sent on every request.
        `telemetry` gives a service (name, node) its telemetry (default: its own metrics, the
        process's tracer provider).
        """
        from services.reporting.app import build_service, create_app

        made = telemetry or (lambda name, node: service_telemetry(settings, name, node))

        self.settings = settings
        self.nats_url = nats_url
        self.wiring = wiring or Wiring.single_server(nats_url, settings.nodes)
        self.tokens = tokens or {}
        self.reporting: ReportingService = build_service(
            settings, self.wiring.reporting_nats_url, self.wiring.reporting, made("reporting", None)
        )
        self.reporting_app = create_app(self.reporting)
        """Reporting's HTTP app (not started: the service is, by `start`)."""
        self.services: dict[tuple[str, str], NodeService] = {}
        self._apps = {}
        for node in settings.nodes:
            for name in SERVICES:
                module = NODE_SERVICES[name]
                service = module.build_service(
                    settings,
                    node,
                    self.wiring.node_nats_urls[node],
                    self.wiring.signers.get(node),
                    made(name, node),
                )
                self.services[(node, name)] = service
                self._apps[(node, name)] = module.create_app(service)

    async def start(self) -> None:
        await self.reporting.start()
        for service in self.services.values():
            await service.start()

    async def stop(self) -> None:
        for service in self.services.values():
            await service.stop()
        await self.reporting.stop()

    def client(self, node: str, service: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self._apps[(node, service)])
        token = self.tokens.get(node)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            transport=transport, base_url=f"http://{node}-{service}", headers=headers
        )

    async def post(self, node: str, service: str, path: str, body: dict) -> httpx.Response:
        async with self.client(node, service) as client:
            return await client.post(path, json=body)

    async def report(self) -> HubReport:
        async with self.reporting.read_sessions() as session:
            return await hub_report(session, self.settings.hub, self.settings.nodes)

    async def report_when(
        self, done: Callable[[HubReport], bool], timeout: float = 15.0
    ) -> HubReport:
        return await wait_for(self.report, done, timeout)


def organisation(name: str = "Orchestra of the Swan", **extra: object) -> dict:
    return {
        "name": name,
        "roles": ["delivery_partner"],
        "areas": ["coventry"],
        "functions": ["progression"],
        **extra,
    }


def activity(delivered_by: str, **extra: object) -> dict:
    body = {
        "kind": "wcet",
        "title": "Whole class violins, Year 4",
        "delivered_by": delivered_by,
        "area": "coventry",
        "setting_urn": "103690",
        "starts_on": "2024-09-02",
        "ends_on": "2024-12-20",
        "hours": "30",
        "headcount": 28,
        "functions": ["schools"],
        "aims": ["support_schools"],
        "level": "beginner",
    }
    body.update(extra)
    return body


def income(amount_pence: int = 100_000_00, stream: str = "revenue", **extra: object) -> dict:
    return {
        "source": "dfe_grant",
        "funder": "GB-CHC-1036733",
        "stream": stream,
        "amount_pence": amount_pence,
        "received_on": "2025-09-01",
        **extra,
    }
