"""The sample hub: Heart of England Music (Coventry, Warwickshire, Solihull), loaded through the
services' own HTTP APIs so the demo exercises the real write path.

Partners are the network named in Coventry Music Hub's progression strategy (see the project's
reference material) plus partners of the other two areas. Figures are illustrative; the hub's
2025-26 revenue split (Coventry £549,373, Warwickshire £803,795, Solihull £355,704) is public.
Which organisation holds the grant is a sample choice (``LEAD_NODE``), not a claim.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import httpx

LEAD_NODE = "warwickshire"
ACE = "GB-CHC-1036733"  # Arts Council England, which pays the DfE grant
REVENUE_SPLIT_PENCE = {"coventry": 54_937_300, "warwickshire": 80_379_500, "solihull": 35_570_400}
CAPITAL_PENCE = 31_000_000

FUNCTIONS = {
    "wcet": ["schools"],
    "tuition": ["progression"],
    "ensemble": ["progression", "partnerships"],
    "send_inclusion": ["inclusion"],
    "early_years": ["schools", "inclusion"],
    "workshop": ["inclusion", "partnerships"],
    "performance": ["progression"],
    "cpd": ["schools", "sustainability"],
    "exam": ["progression"],
    "instrument_loan": ["inclusion", "sustainability"],
}
LEVELS = {"wcet": "beginner", "early_years": "early_years", "exam": "intermediate", "performance": "advanced"}


@dataclass(frozen=True)
class Org:
    name: str
    roles: tuple[str, ...]
    functions: tuple[str, ...]
    org_id: str | None = None


CLOS = {
    "coventry": Org("Coventry Music", ("collaborative_lead",), ("partnerships", "schools", "progression", "inclusion", "sustainability"), "GB-LAE-COV"),
    "warwickshire": Org("Warwickshire Music", ("collaborative_lead", "hub_lead"), ("partnerships", "schools", "progression", "inclusion", "sustainability")),
    "solihull": Org("Solihull Music", ("collaborative_lead",), ("partnerships", "schools", "progression", "inclusion", "sustainability"), "GB-LAE-SOL"),
}

PARTNERS = {
    "coventry": [
        Org("Midlands Arts Centre (MAC)", ("delivery_partner",), ("inclusion",)),
        Org("Orchestra of the Swan", ("delivery_partner",), ("progression",)),
        Org("The Tin Music and Arts", ("delivery_partner",), ("progression", "partnerships")),
        Org("Studio X", ("delivery_partner",), ("progression",)),
        Org("Media Mania", ("delivery_partner",), ("inclusion", "progression")),
        Org("Coventry University", ("hub_member",), ("progression", "partnerships")),
        Org("Armonico Consort", ("delivery_partner",), ("progression",)),
        Org("Conductive Music", ("delivery_partner",), ("schools",)),
        Org("Drake Music", ("delivery_partner",), ("inclusion", "sustainability")),
        Org("Royal Birmingham Conservatoire", ("hub_member",), ("progression",)),
        Org("Coventry Cathedral", ("delivery_partner",), ("progression",)),
        Org("Creative Optimistic Visions", ("delivery_partner",), ("inclusion",)),
        Org("Wild Earth", ("delivery_partner",), ("inclusion",)),
        Org("Quench Arts", ("delivery_partner",), ("inclusion",)),
        Org("Positive Youth Foundation", ("delivery_partner",), ("inclusion", "progression")),
        Org("Coventry Corps of Drums", ("delivery_partner",), ("progression",)),
        Org("Talking Birds", ("delivery_partner",), ("progression",)),
        Org("University of Warwick", ("hub_member",), ("progression",)),
    ],
    "warwickshire": [
        Org("Warwick Arts Centre", ("delivery_partner",), ("partnerships", "progression")),
        Org("Royal Shakespeare Company", ("delivery_partner",), ("partnerships",)),
        Org("Orchestra of the Swan", ("delivery_partner",), ("progression",)),
        Org("Armonico Consort", ("delivery_partner",), ("progression", "schools")),
        Org("Drake Music", ("delivery_partner",), ("inclusion",)),
    ],
    "solihull": [
        Org("The Core Theatre Solihull", ("delivery_partner",), ("partnerships",)),
        Org("Orchestra of the Swan", ("delivery_partner",), ("progression",)),
        Org("Royal Birmingham Conservatoire", ("hub_member",), ("progression",)),
        Org("Quench Arts", ("delivery_partner",), ("inclusion",)),
    ],
}


@dataclass
class SampleLoad:
    """What the loader wrote, so the demo can wait until reporting has applied all of it."""

    writes: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.writes.values())


async def load_sample(
    urls: dict[tuple[str, str], str],
    nodes: list[str],
    *,
    seed: int = 2025,
    activities_per_node: int = 40,
    progress: Callable[[int], None] | None = None,
) -> SampleLoad:
    """Register partners, record a year of activities and the funding flows at every node."""
    rng = random.Random(seed)
    load = SampleLoad()
    clients = {key: httpx.AsyncClient(base_url=url, timeout=30) for key, url in urls.items()}
    try:
        await _load(clients, nodes, rng, load, activities_per_node, progress)
    finally:
        for client in clients.values():
            await client.aclose()
    return load


async def _load(
    clients: dict[tuple[str, str], httpx.AsyncClient],
    nodes: list[str],
    rng: random.Random,
    load: SampleLoad,
    activities_per_node: int,
    progress: Callable[[int], None] | None,
) -> None:
    async def post(node: str, service: str, path: str, body: dict) -> dict:
        response = await clients[(node, service)].post(path, json=body)
        if response.status_code != 201:
            raise RuntimeError(f"{node} {service} {path}: {response.status_code} {response.text}")
        load.writes[f"{node}/{service}"] += 1
        if progress:
            progress(1)
        return response.json()

    for node in nodes:
        orgs = [CLOS.get(node, Org(f"{node.title()} Music", ("collaborative_lead",), ("partnerships",)))]
        orgs += PARTNERS.get(node, [])
        ids = []
        for org in orgs:
            body = {"name": org.name, "roles": list(org.roles), "areas": [node], "functions": list(org.functions)}
            if org.org_id:
                body["org_id"] = org.org_id
            ids.append((await post(node, "partners", "/organisations", body))["organisation_id"])
        for _ in range(activities_per_node):
            await post(node, "activities", "/activities", _activity(rng, node, ids))
    await _load_funding(post, nodes, rng)


def _activity(rng: random.Random, node: str, organisation_ids: list[str]) -> dict:
    kind = rng.choice(list(FUNCTIONS))
    start = date(2024, 9, 2) + timedelta(days=rng.randrange(0, 300))
    weeks = 1 if kind in {"workshop", "performance", "exam"} else rng.choice([10, 12, 30])
    headcount = {"wcet": rng.randint(20, 32), "tuition": rng.randint(1, 4), "performance": rng.randint(80, 400)}.get(
        kind, rng.randint(8, 45)
    )
    return {
        "kind": kind,
        "title": f"{kind.replace('_', ' ').title()} ({node.title()}, {start:%b %Y})",
        "delivered_by": rng.choice(organisation_ids),
        "area": node,
        "starts_on": start.isoformat(),
        "ends_on": (start + timedelta(weeks=weeks)).isoformat(),
        "hours": str(weeks * rng.choice([1, 1.5, 2])),
        "headcount": headcount,
        "functions": FUNCTIONS[kind],
        "aims": ["support_schools"] if kind in {"wcet", "cpd"} else ["engage_all", "progress_talent"],
        "level": LEVELS.get(kind, rng.choice(["beginner", "intermediate", "advanced"])),
    }


async def _load_funding(post: Callable, nodes: list[str], rng: random.Random) -> None:
    lead = LEAD_NODE if LEAD_NODE in nodes else nodes[0]
    total_revenue = sum(REVENUE_SPLIT_PENCE.get(n, 10_000_000) for n in nodes)
    grant = await post(lead, "funding", "/income", {
        "source": "dfe_grant", "funder": ACE, "stream": "revenue", "amount_pence": total_revenue,
        "received_on": "2025-09-01", "purpose": "Music Hub revenue grant 2025-26",
    })
    await post(lead, "funding", "/income", {
        "source": "dfe_grant", "funder": ACE, "stream": "capital", "amount_pence": CAPITAL_PENCE,
        "received_on": "2025-09-01", "purpose": "Music Hub capital grant: instruments, equipment, technology",
    })
    for node in nodes:
        if node != lead:
            amount = REVENUE_SPLIT_PENCE.get(node, 10_000_000)
            await post(lead, "funding", "/allocations", {
                "to_node": node, "stream": "revenue", "amount_pence": amount, "allocated_on": "2025-09-15",
                "funded_from": [{"entry_id": grant["entry_id"], "amount_pence": amount}],
            })
        for source, funder in (("local_authority", f"{node.title()} Council"), ("parents", "Parents' fees")):
            await post(node, "funding", "/income", {
                "source": source, "funder": funder, "stream": "revenue",
                "amount_pence": rng.randrange(5_000_000, 40_000_000, 100), "received_on": "2025-10-01",
            })
