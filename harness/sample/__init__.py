"""The sample hub: Heart of England Music (Coventry, Warwickshire, Solihull), loaded through the
services' own HTTP APIs so the demo exercises the real write path.

Partners are the network named in Coventry Music Hub's progression strategy (see the project's
reference material) plus partners of the other two areas. Figures are illustrative; the hub's
2025-26 revenue split (Coventry £549,373, Warwickshire £803,795, Solihull £355,704) is public.
Which organisation holds the grant is a sample choice (``funding.LEAD_NODE``), not a claim.
One module per context; each ``load`` adds what it wrote to the shared ``SampleLoad``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SampleLoad:
    """What the loader wrote (so the demo can wait for reporting to apply all of it) and ids
    it made."""

    writes: Counter[str] = field(default_factory=Counter)
    organisations: dict[str, list[str]] = field(default_factory=dict)
    """organisation_ids registered per node, for activities and funding to refer to."""

    @property
    def total(self) -> int:
        return sum(self.writes.values())


@dataclass
class SampleWriter:
    """Posts sample records to the node services and counts them."""

    clients: dict[tuple[str, str], httpx.AsyncClient]
    load: SampleLoad
    rng: random.Random
    progress: Callable[[int], None] | None = None

    async def post(
        self, node: str, service: str, path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        response = await self.clients[(node, service)].post(path, json=body)
        if response.status_code != 201:
            raise RuntimeError(f"{node} {service} {path}: {response.status_code} {response.text}")
        self.load.writes[f"{node}/{service}"] += 1
        if self.progress:
            self.progress(1)
        created: dict[str, Any] = response.json()
        return created


async def load_sample(
    urls: dict[tuple[str, str], str],
    nodes: list[str],
    *,
    seed: int = 2025,
    activities_per_node: int = 40,
    progress: Callable[[int], None] | None = None,
    tokens: dict[str, str] | None = None,
) -> SampleLoad:
    """Register partners, record a year of activities and the funding flows at every node.

    `tokens` gives each node's staff token when the services require authentication.
    """
    from harness.sample import activities, funding, partners

    def headers(node: str) -> dict[str, str]:
        token = (tokens or {}).get(node)
        return {"Authorization": f"Bearer {token}"} if token else {}

    clients = {
        (node, service): httpx.AsyncClient(base_url=url, timeout=30, headers=headers(node))
        for (node, service), url in urls.items()
    }
    writer = SampleWriter(clients, SampleLoad(), random.Random(seed), progress)
    try:
        await partners.load(writer, nodes)
        await activities.load(writer, nodes, activities_per_node)
        await funding.load(writer, nodes)
    finally:
        for client in clients.values():
            await client.aclose()
    return writer.load
