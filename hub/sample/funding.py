"""Sample funding: the DfE grant, allocations to the collaborative leads, other income."""

from __future__ import annotations

from hub.sample import SampleWriter

LEAD_NODE = "warwickshire"
ACE = "GB-CHC-1036733"  # Arts Council England, which pays the DfE grant
REVENUE_SPLIT_PENCE = {"coventry": 54_937_300, "warwickshire": 80_379_500, "solihull": 35_570_400}
CAPITAL_PENCE = 31_000_000


async def load(writer: SampleWriter, nodes: list[str]) -> None:
    post, rng = writer.post, writer.rng
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
