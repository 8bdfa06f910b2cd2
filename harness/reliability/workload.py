"""A seeded workload over the services' HTTP APIs: organisations, activities, registers of pupils
(participations), income, spend and allocations between nodes with their receipts.

A request that fails (service killed, connection reset, 5xx) is retried with the same body until
it succeeds; a retry after a lost response may record a second copy at the node, which is fine:
ground truth is read from the nodes' databases, not from what was sent.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.sample.activities import pupil, schools

RETRY_PAUSE = 0.2


@dataclass
class WorkloadStats:
    requests: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    refused_on_retry: int = 0
    """4xx after an earlier attempt failed: the first attempt had landed
    (e.g. a receipt already recorded)."""


@dataclass
class NodeState:
    organisations: list[str] = field(default_factory=list)
    incomes: list[tuple[str, int]] = field(default_factory=list)
    """Unspent income entries (entry id, pence): each is drawn on at most once."""


class Workload:
    """Drives every node's services until `stop` is set; `post` retries until a definite answer."""

    def __init__(
        self,
        urls: dict[tuple[str, str], str],
        tokens: dict[str, str],
        seed: int,
        give_up_after: float = 120.0,
        tag: str = "c",
    ):
        self.urls = urls
        self.tokens = tokens
        self.rng = random.Random(seed)
        self.stats = WorkloadStats()
        self.nodes = sorted({node for node, _ in urls})
        self.state = {node: NodeState() for node in self.nodes}
        self.give_up_after = give_up_after
        self._serial = 0
        self.tag = tag
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _client(self, node: str) -> httpx.AsyncClient:
        if node not in self._clients:
            headers = {"Authorization": f"Bearer {self.tokens[node]}"}
            self._clients[node] = httpx.AsyncClient(timeout=15, headers=headers)
        return self._clients[node]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def post(
        self, node: str, service: str, path: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """POST until it is answered 2xx (returned) or 4xx after a failed attempt (None)."""
        url = self.urls[(node, service)] + path
        deadline = time.monotonic() + self.give_up_after
        attempts = 0
        while True:
            attempts += 1
            try:
                response = await self._client(node).post(url, json=body)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code < 300:
                self.stats.requests[f"{service} {path}"] += 1
                return response.json() if response.content else {}
            if (
                response is not None
                and 400 <= response.status_code < 500
                and response.status_code != 429
            ):
                if attempts > 1:
                    self.stats.refused_on_retry += 1
                    return None
                raise RuntimeError(
                    f"{node} {service} {path} refused: {response.status_code} {response.text[:500]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{node} {service} {path}: no answer within {self.give_up_after}s"
                )
            self.stats.retries += 1
            await asyncio.sleep(RETRY_PAUSE)

    def _next(self) -> int:
        self._serial += 1
        return self._serial

    async def run(self, stop: asyncio.Event, workers_per_node: int = 2) -> None:
        """Every node works concurrently until `stop`; begins with a few organisations each."""
        for node in self.nodes:
            for _ in range(2):
                await self.organisation(node)
        await asyncio.gather(
            *(self._worker(node, stop) for node in self.nodes for _ in range(workers_per_node))
        )

    async def _worker(self, node: str, stop: asyncio.Event) -> None:
        steps = (
            self.organisation,
            self.activity,
            self.register,
            self.register,
            self.income,
            self.spend,
            self.allocate,
        )
        while not stop.is_set():
            await self.rng.choice(steps)(node)

    async def organisation(self, node: str) -> None:
        n = self._next()
        body = {
            "name": f"Reliability partner {n}",
            "roles": ["delivery_partner"],
            "areas": [node],
            "functions": ["progression"],
        }
        made = await self.post(node, "partners", "/organisations", body)
        if made:
            self.state[node].organisations.append(made["organisation_id"])

    def _deliverer(self, node: str) -> str:
        return self.rng.choice(self.state[node].organisations)

    async def activity(self, node: str) -> None:
        body = {
            "kind": "workshop",
            "title": f"Workshop {self._next()}",
            "delivered_by": self._deliverer(node),
            "area": node,
            "starts_on": "2024-10-02",
            "ends_on": "2024-10-02",
            "hours": "2",
            "headcount": self.rng.randint(5, 60),
            "functions": ["inclusion"],
            "aims": ["engage_all"],
        }
        await self.post(node, "activities", "/activities", body)

    async def register(self, node: str) -> None:
        """One whole-class activity with its pupils: one activity and a participation per pupil."""
        n = self._next()
        activity = {
            "activity_ref": f"rel-{self.tag}-{node}-{n}",
            "kind": "wcet",
            "title": f"Whole class strings {n}",
            "delivered_by": self._deliverer(node),
            "area": node,
            "setting_urn": "103690",
            "starts_on": "2024-09-09",
            "ends_on": "2024-12-16",
            "term": "autumn 2024",
            "hours": "15.00",
            "functions": "schools",
            "aims": "support_schools",
            "level": "beginner",
        }
        rows = [{**activity, **self._pupil(node, n, i)} for i in range(self.rng.randint(5, 28))]
        await self.post(node, "activities", "/activities/register", {"rows": rows})

    def _pupil(self, node: str, n: int, i: int) -> dict[str, Any]:
        """A valid, distinct pupil (UPN from the serial) as the sample register writes one."""
        school = schools(node, 1)[0]
        p = pupil(self.rng, node, school, (n * 30 + i) % 100_000)
        return {
            "upn": p.upn,
            "year_group": "4",
            "send": p.send,
            "fsm": p.fsm,
            "looked_after": p.looked_after,
            "ethnicity": p.ethnicity,
            "gender": p.gender,
            "school_urn": p.school_urn,
            "home_area": p.home_area,
        }

    async def income(self, node: str) -> None:
        amount = self.rng.randint(10_000, 5_000_000)
        body = {
            "source": "schools",
            "funder": "Schools buying services",
            "stream": "revenue",
            "amount_pence": amount,
            "received_on": "2025-10-01",
            "area": node,
        }
        made = await self.post(node, "funding", "/income", body)
        if made:
            self.state[node].incomes.append((made["entry_id"], amount))

    async def spend(self, node: str) -> None:
        if not self.state[node].incomes:
            return await self.income(node)
        entry, amount = self.state[node].incomes.pop(
            self.rng.randrange(len(self.state[node].incomes))
        )
        spent = amount // 3
        body = {
            "category": "staff",
            "function": "schools",
            "area": node,
            "description": "Teaching staff",
            "payee": f"{node.title()} Music",
            "stream": "revenue",
            "amount_pence": spent,
            "spent_on": "2026-01-15",
            "funded_from": [{"entry_id": entry, "amount_pence": spent}],
        }
        await self.post(node, "funding", "/expenditure", body)

    async def allocate(self, node: str) -> None:
        """Allocate part of an income to another node, which records the receipt."""
        if not self.state[node].incomes:
            return await self.income(node)
        entry, amount = self.state[node].incomes.pop(
            self.rng.randrange(len(self.state[node].incomes))
        )
        to = self.rng.choice([n for n in self.nodes if n != node])
        share = amount // 3
        sent = await self.post(
            node,
            "funding",
            "/allocations",
            {
                "to_node": to,
                "stream": "revenue",
                "amount_pence": share,
                "allocated_on": "2025-09-15",
                "funded_from": [{"entry_id": entry, "amount_pence": share}],
                "purpose": f"Allocation to {to}",
            },
        )
        if sent:
            await self.post(
                to,
                "funding",
                "/received",
                {
                    "from_node": node,
                    "sender_entry_id": sent["entry_id"],
                    "stream": "revenue",
                    "amount_pence": share,
                    "received_on": "2025-09-17",
                },
            )
