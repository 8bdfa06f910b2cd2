"""Sample funding for 2025-26: the DfE grant at the hub lead, allocations to the other
collaborative leads (recorded on both sides), income levered in, commissions of delivery
partners, spend by function, remissions, a capital purchase and budgets. Balances to the penny.
"""

from __future__ import annotations

from typing import Any

from harness.sample import SampleWriter
from harness.sample.partners import PARTNERS

LEAD_NODE = "warwickshire"
ACE = "GB-CHC-1036733"  # Arts Council England, which pays the DfE grant
REVENUE_SPLIT_PENCE = {"coventry": 54_937_300, "warwickshire": 80_379_500, "solihull": 35_570_400}
CAPITAL_PENCE = 31_000_000
OTHER_INCOME = (  # (source, funder, share of the node's revenue split in tenths of a percent)
    ("local_authority", "{area} Council", 120),
    ("schools", "Schools buying services", 250),
    ("parents", "Parents' fees", 180),
    ("trusts", "Youth Music", 40),
)
SPEND = (  # (category, function, description, share of available revenue in tenths of a percent)
    ("staff", "schools", "Whole class ensemble teaching staff", 300),
    ("cpd", "schools", "CPD for primary music leads", 30),
    ("venues", "progression", "Ensemble rehearsal venues", 40),
    ("delivery", "inclusion", "SEND and alternative provision sessions", 80),
    ("management", "sustainability", "Hub management and data", 60),
)


def _draw(entry_id: str, amount: int) -> list[dict[str, Any]]:
    return [{"entry_id": entry_id, "amount_pence": amount}]


async def load(writer: SampleWriter, nodes: list[str]) -> None:
    post = writer.post
    lead = LEAD_NODE if LEAD_NODE in nodes else nodes[0]
    split = {n: REVENUE_SPLIT_PENCE.get(n, 10_000_000) for n in nodes}
    grant = (
        await post(
            lead,
            "funding",
            "/income",
            {
                "source": "dfe_grant",
                "funder": ACE,
                "stream": "revenue",
                "amount_pence": sum(split.values()),
                "received_on": "2025-09-01",
                "purpose": "Music Hub revenue grant 2025-26",
            },
        )
    )["entry_id"]
    capital = (
        await post(
            lead,
            "funding",
            "/income",
            {
                "source": "dfe_grant",
                "funder": ACE,
                "stream": "capital",
                "amount_pence": CAPITAL_PENCE,
                "received_on": "2025-09-01",
                "purpose": "Music Hub capital grant: instruments, equipment, technology",
            },
        )
    )["entry_id"]
    revenue_source = {lead: grant}
    for node in nodes:
        if node == lead:
            continue
        sent = (
            await post(
                lead,
                "funding",
                "/allocations",
                {
                    "to_node": node,
                    "stream": "revenue",
                    "amount_pence": split[node],
                    "allocated_on": "2025-09-15",
                    "funded_from": _draw(grant, split[node]),
                    "purpose": f"Music Hub revenue allocation 2025-26: {node.title()}",
                },
            )
        )["entry_id"]
        revenue_source[node] = (
            await post(
                node,
                "funding",
                "/received",
                {
                    "from_node": lead,
                    "sender_entry_id": sent,
                    "stream": "revenue",
                    "amount_pence": split[node],
                    "received_on": "2025-09-17",
                },
            )
        )["entry_id"]
    for node in nodes:
        await _node_year(writer, node, revenue_source[node], split[node])
    await _capital_purchase(writer, lead, capital)


async def _node_year(writer: SampleWriter, node: str, grant: str, grant_pence: int) -> None:
    """A collaborative lead's year: other income, commissions, spend, remissions and budgets."""
    post = writer.post
    levered = {}
    for source, funder, share in OTHER_INCOME:
        amount = grant_pence * share // 1000
        levered[source] = (
            (
                await post(
                    node,
                    "funding",
                    "/income",
                    {
                        "source": source,
                        "funder": funder.format(area=node.title()),
                        "stream": "revenue",
                        "amount_pence": amount,
                        "received_on": "2025-10-01",
                        "area": node,
                    },
                )
            )["entry_id"],
            amount,
        )
    actual: dict[str, int] = {}
    for category, function, description, share in SPEND:
        amount = grant_pence * share // 1000
        await post(
            node,
            "funding",
            "/expenditure",
            {
                "category": category,
                "function": function,
                "area": node,
                "description": description,
                "payee": f"{node.title()} Music",
                "stream": "revenue",
                "amount_pence": amount,
                "spent_on": "2026-01-15",
                "funded_from": _draw(grant, amount),
            },
        )
        actual[function] = actual.get(function, 0) + amount
    fees_id, fees = levered["parents"]
    for reason, amount in (("looked_after", fees // 10), ("low_income", fees // 5)):
        await post(
            node,
            "funding",
            "/expenditure",
            {
                "category": "remission",
                "function": "inclusion",
                "area": node,
                "remission_reason": reason,
                "description": f"Tuition fee remission ({reason.replace('_', ' ')})",
                "payee": "Pupils' families",
                "stream": "revenue",
                "amount_pence": amount,
                "spent_on": "2025-11-01",
                "funded_from": _draw(fees_id, amount),
            },
        )
        actual["inclusion"] += amount
    actual["progression"] = actual.get("progression", 0) + await _commissions(
        writer, node, grant, grant_pence, levered
    )
    for function, amount in sorted(actual.items()):
        await post(
            node,
            "funding",
            "/budgets",
            {
                "period_kind": "academic",
                "period": "2025-26",
                "function": function,
                "area": node,
                "amount_pence": amount
                * (90 if function == "inclusion" else 105)
                // 100,  # inclusion overspends
            },
        )


async def _commissions(
    writer: SampleWriter,
    node: str,
    grant: str,
    grant_pence: int,
    levered: dict[str, tuple[str, int]],
) -> int:
    """Commission each node's first progression partners; the first one draws on two sources."""
    partners = [
        (org, oid)
        for org, oid in zip(
            PARTNERS.get(node, []), writer.load.organisations[node][1:], strict=False
        )
        if "progression" in org.functions
    ][:3]
    activities = await _activity_ids(writer, node)
    total = 0
    for i, (org, organisation_id) in enumerate(partners):
        amount = grant_pence * (50 - 10 * i) // 1000
        trust_id, trust = levered["trusts"]
        funded = (
            _draw(grant, amount)
            if i
            else [
                {"entry_id": grant, "amount_pence": amount - trust // 2},
                {"entry_id": trust_id, "amount_pence": trust // 2},
            ]
        )
        await writer.post(
            node,
            "funding",
            "/commissions",
            {
                "recipient_organisation_id": organisation_id,
                "recipient_org_id": org.org_id,
                "recipient_name": org.name,
                "title": f"{org.name}: progression ensembles and workshops",
                "function": "progression",
                "area": node,
                "activity_ids": activities[i :: max(len(partners), 1)][:3],
                "stream": "revenue",
                "amount_pence": amount,
                "commissioned_on": "2025-10-01",
                "funded_from": funded,
            },
        )
        total += amount
    return total


async def _activity_ids(writer: SampleWriter, node: str) -> list[str]:
    client = writer.clients.get((node, "activities"))
    if client is None:
        return []
    response = await client.get("/activities")
    return [a["activity_id"] for a in response.json()] if response.status_code == 200 else []


async def _capital_purchase(writer: SampleWriter, node: str, capital: str) -> None:
    """Adapted instruments bought from capital and loaned to a special school (asset register)."""
    await writer.post(
        node,
        "funding",
        "/expenditure",
        {
            "category": "instruments_equipment",
            "function": "inclusion",
            "area": node,
            "description": "Adapted instruments for SEND pupils",
            "payee": "Instrument supplier",
            "stream": "capital",
            "amount_pence": 2_475_000,
            "spent_on": "2025-11-20",
            "funded_from": _draw(capital, 2_475_000),
            "asset": {
                "item": "Adapted instruments (set of 12)",
                "location": f"{node.title()} Music store",
                "loaned_to": "setting URN 125799",
            },
        },
    )
