"""The funding ledger over HTTP on real NATS and SQLite/PostgreSQL: exact money, refusals with
figures, reversals, two-sided transfers, budgets and the hub-wide balance."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from services.reporting.read.views.funding import FundingBalance, funding_balance
from tests.helpers import System, income, wait_for


async def entry(system: System, node: str, path: str, body: dict[str, Any]) -> str:
    response = await system.post(node, "funding", path, body)
    assert response.status_code == 201, response.text
    return str(response.json()["entry_id"])


async def get(system: System, node: str, path: str) -> Any:
    async with system.client(node, "funding") as client:
        return (await client.get(path)).json()


async def sources(system: System, node: str) -> dict[str, dict[str, int]]:
    return {s["entry_id"]: s for s in await get(system, node, "/sources")}


def draw(*pairs: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"entry_id": e, "amount_pence": a} for e, a in pairs]


def commission(funded_from: list[dict[str, Any]], amount: int, **extra: Any) -> dict[str, Any]:
    return {
        "recipient_organisation_id": str(uuid.uuid4()),
        "recipient_org_id": "GB-CHC-1158305",
        "recipient_name": "Orchestra of the Swan",
        "title": "Strings progression ensemble",
        "function": "progression",
        "area": "coventry",
        "activity_ids": [],
        "stream": "revenue",
        "amount_pence": amount,
        "commissioned_on": "2025-10-01",
        "funded_from": funded_from,
        **extra,
    }


def spend(funded_from: list[dict[str, Any]], amount: int, **extra: Any) -> dict[str, Any]:
    return {
        "category": "delivery",
        "function": "schools",
        "area": "coventry",
        "description": "WCET tutors",
        "payee": "Coventry Music staff",
        "stream": "revenue",
        "amount_pence": amount,
        "spent_on": "2025-11-01",
        "funded_from": funded_from,
        **extra,
    }


async def balance_when(system: System, done: Any) -> FundingBalance:
    async def check() -> FundingBalance:
        async with system.reporting.read_sessions() as session:
            return await funding_balance(session, system.settings.nodes)

    return await wait_for(check, done)


async def test_over_drawing_is_refused_with_the_figures_and_nothing_is_stored(
    system: System,
) -> None:
    grant = await entry(system, "coventry", "/income", income(1_000_00))
    await entry(system, "coventry", "/commissions", commission(draw((grant, 600_00)), 600_00))
    refused = await system.post(
        "coventry", "funding", "/commissions", commission(draw((grant, 400_01)), 400_01)
    )
    assert refused.status_code == 409
    assert (
        refused.json()["detail"][0]["msg"] == f"source {grant} has £400.00 left; £400.01 requested"
    )
    mismatch = await system.post(
        "coventry", "funding", "/commissions", commission(draw((grant, 100)), 200)
    )
    assert (
        mismatch.status_code == 422 and "links total £1.00 but the amount is £2.00" in mismatch.text
    )
    assert len(await get(system, "coventry", "/entries")) == 2
    assert (await sources(system, "coventry"))[grant]["remaining_pence"] == 400_00
    report = await system.report_when(lambda r: r.stamp.applied_events >= 2)
    assert report.stamp.applied_events == 2


async def test_capital_and_revenue_do_not_mix_unless_the_source_allows_it(system: System) -> None:
    capital = await entry(system, "coventry", "/income", income(5_000_00, stream="capital"))
    trust = await entry(
        system,
        "coventry",
        "/income",
        income(5_000_00, source="trusts", funder="A trust", stream_restricted=False),
    )
    mixed = await system.post(
        "coventry", "funding", "/expenditure", spend(draw((capital, 100_00)), 100_00)
    )
    assert mixed.status_code == 409
    assert mixed.json()["detail"] == [
        {
            "loc": ["body", "stream"],
            "type": "refused",
            "msg": f"source {capital} is capital only, this flow is revenue",
        }
    ]
    asset = {
        "item": "Adapted clarinet (Clarina)",
        "location": "Coventry Music store",
        "loaned_to": "URN 103690",
    }
    await entry(
        system,
        "coventry",
        "/expenditure",
        spend(
            draw((trust, 300_00)),
            300_00,
            stream="capital",
            category="instruments_equipment",
            asset=asset,
        ),
    )
    await entry(system, "coventry", "/expenditure", spend(draw((trust, 200_00)), 200_00))
    assert (await sources(system, "coventry"))[trust]["remaining_pence"] == 4_500_00
    no_asset_on_revenue = await system.post(
        "coventry", "funding", "/expenditure", spend(draw((trust, 1)), 1, asset=asset)
    )
    assert no_asset_on_revenue.status_code == 422


async def test_a_reversal_of_a_reversal_restores_the_flow_and_its_draw(system: System) -> None:
    grant = await entry(system, "coventry", "/income", income(1_000_00))
    flow = await entry(
        system, "coventry", "/commissions", commission(draw((grant, 700_00)), 700_00)
    )
    undo = await entry(
        system,
        "coventry",
        "/reversals",
        {"entry_id": flow, "reversed_on": "2025-10-02", "reason": "wrong partner"},
    )
    assert (await sources(system, "coventry"))[grant]["remaining_pence"] == 1_000_00
    again = await system.post(
        "coventry",
        "funding",
        "/reversals",
        {"entry_id": flow, "reversed_on": "2025-10-03", "reason": "x"},
    )
    assert again.status_code == 409 and f"reversed by {undo}" in again.text
    redo = await entry(
        system,
        "coventry",
        "/reversals",
        {"entry_id": undo, "reversed_on": "2025-10-04", "reason": "it was right"},
    )
    assert (await sources(system, "coventry"))[grant]["remaining_pence"] == 300_00
    undo_again = await entry(
        system,
        "coventry",
        "/reversals",
        {"entry_id": redo, "reversed_on": "2025-10-05", "reason": "no"},
    )
    assert (await sources(system, "coventry"))[grant]["remaining_pence"] == 1_000_00
    # the freed money is spent elsewhere: reinstating the flow would over-draw, so it is refused
    await entry(system, "coventry", "/expenditure", spend(draw((grant, 500_00)), 500_00))
    refused = await system.post(
        "coventry",
        "funding",
        "/reversals",
        {"entry_id": undo_again, "reversed_on": "2025-10-06", "reason": "x"},
    )
    assert refused.status_code == 409 and "has £500.00 left; £700.00 requested" in refused.text

    funding = await balance_when(
        system, lambda b: len(b.sources) == 1 and b.hub.spent_pence == 500_00
    )
    assert funding.balanced, funding.problems
    assert (
        funding.hub.commissioned_pence,
        funding.hub.spent_pence,
        funding.hub.remaining_pence,
    ) == (0, 500_00, 500_00)


async def test_a_source_cannot_be_reversed_while_flows_draw_on_it(system: System) -> None:
    grant = await entry(system, "coventry", "/income", income(1_000_00))
    flow = await entry(system, "coventry", "/expenditure", spend(draw((grant, 10_00)), 10_00))
    refused = await system.post(
        "coventry",
        "funding",
        "/reversals",
        {"entry_id": grant, "reversed_on": "2025-10-02", "reason": "dup"},
    )
    assert refused.status_code == 409 and "later flows draw £10.00 from it" in refused.text
    await entry(
        system,
        "coventry",
        "/reversals",
        {"entry_id": flow, "reversed_on": "2025-10-02", "reason": "wrong"},
    )
    await entry(
        system,
        "coventry",
        "/reversals",
        {"entry_id": grant, "reversed_on": "2025-10-02", "reason": "duplicate"},
    )
    assert (await sources(system, "coventry"))[grant]["remaining_pence"] == 0
    gone = await system.post("coventry", "funding", "/expenditure", spend(draw((grant, 1)), 1))
    assert gone.status_code == 409 and "has £0.00 left" in gone.text
    report = await system.report_when(lambda r: r.stamp.applied_events >= 4)
    assert report.nodes[0].income_pence == 0


async def test_a_commission_funded_from_two_sources_is_traced_back_across_nodes(
    system: System,
) -> None:
    grant = await entry(system, "solihull", "/income", income(2_000_00))
    sent = await entry(
        system,
        "solihull",
        "/allocations",
        {
            "to_node": "coventry",
            "stream": "revenue",
            "amount_pence": 1_500_00,
            "allocated_on": "2025-09-15",
            "funded_from": draw((grant, 1_500_00)),
        },
    )
    received = await entry(
        system,
        "coventry",
        "/received",
        {
            "from_node": "solihull",
            "sender_entry_id": sent,
            "stream": "revenue",
            "amount_pence": 1_500_00,
            "received_on": "2025-09-16",
        },
    )
    fees = await entry(
        system, "coventry", "/income", income(300_00, source="parents", funder="Parents' fees")
    )
    activity = str(uuid.uuid4())
    both = await entry(
        system,
        "coventry",
        "/commissions",
        commission(draw((received, 1_000_00), (fees, 250_00)), 1_250_00, activity_ids=[activity]),
    )

    await system.report_when(
        lambda r: r.stamp.applied_events >= 5
    )  # both nodes' streams, not just coventry's
    funding = await balance_when(system, lambda b: b.hub.commissioned_pence == 1_250_00)
    assert funding.balanced, funding.problems
    assert [t.status for t in funding.transfers] == ["reconciled"]
    by_id = {s.entry_id: s for s in funding.sources}
    assert (by_id[received].drawn_pence, by_id[received].remaining_pence) == (1_000_00, 500_00)
    assert (by_id[fees].drawn_pence, by_id[fees].remaining_pence) == (250_00, 50_00)
    assert (by_id[grant].drawn_pence, by_id[grant].remaining_pence) == (1_500_00, 500_00)
    assert funding.hub.income_pence == funding.hub.commissioned_pence + funding.hub.remaining_pence

    from services.reporting.app import create_app

    app = create_app(system.reporting)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:
        paths = (await client.get(f"/report/funding/activities/{activity}")).json()
    trails = sorted([[(s["node"], s["kind"], s["drawn_pence"]) for s in path] for path in paths])
    assert trails == [
        [("coventry", "commission", 1_250_00), ("coventry", "income", 250_00)],
        [
            ("coventry", "commission", 1_250_00),
            ("coventry", "received", 1_000_00),
            ("solihull", "allocation", 1_500_00),
            ("solihull", "income", 1_500_00),
        ],
    ]
    assert paths[0][0]["entry_id"] == both
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:
        forward = (await client.get(f"/report/funding/uses/solihull/{grant}")).json()
        missing = await client.get(f"/report/funding/uses/solihull/{uuid.uuid4()}")
    assert [[(s["node"], s["kind"], s["drawn_pence"]) for s in path] for path in forward] == [
        [
            ("solihull", "income", 2_000_00),
            ("solihull", "allocation", 1_500_00),
            ("coventry", "received", 1_500_00),
            ("coventry", "commission", 1_000_00),
        ]
    ]
    assert missing.status_code == 404


async def test_transfers_one_side_has_not_recorded_or_recorded_differently_are_shown(
    system: System,
) -> None:
    grant = await entry(system, "solihull", "/income", income(2_000_00))

    async def allocate(amount: int) -> str:
        return await entry(
            system,
            "solihull",
            "/allocations",
            {
                "to_node": "coventry",
                "stream": "revenue",
                "amount_pence": amount,
                "allocated_on": "2025-09-15",
                "funded_from": draw((grant, amount)),
            },
        )

    unanswered, disputed = await allocate(100_00), await allocate(200_00)
    for sender, amount in ((disputed, 199_99), (str(uuid.uuid4()), 50_00)):
        await entry(
            system,
            "coventry",
            "/received",
            {
                "from_node": "solihull",
                "sender_entry_id": sender,
                "stream": "revenue",
                "amount_pence": amount,
                "received_on": "2025-09-20",
            },
        )
    funding = await balance_when(system, lambda b: len(b.transfers) == 3)
    found = {
        (t.sender_entry_id, t.status, t.sent_pence, t.received_pence) for t in funding.transfers
    }
    assert (unanswered, "not received", 100_00, 0) in found
    assert (disputed, "amounts differ", 200_00, 199_99) in found
    assert any(status == "not sent" and got == 50_00 for _, status, _, got in found)
    assert not funding.balanced and len(funding.problems) == 3


async def test_budget_against_actual_respects_academic_and_financial_year_boundaries(
    system: System,
) -> None:
    grant = await entry(system, "coventry", "/income", income(10_000_00, received_on="2025-03-01"))
    for day, amount in (
        ("2025-03-31", 1_00),
        ("2025-04-01", 10_00),
        ("2025-08-31", 100_00),
        ("2025-09-01", 1_000_00),
        ("2026-03-31", 2_000_00),
        ("2026-04-01", 4_000_00),
    ):
        await entry(
            system, "coventry", "/expenditure", spend(draw((grant, amount)), amount, spent_on=day)
        )
    for kind, period, amount in (
        ("academic", "2025-26", 2_500_00),
        ("financial", "2025-26", 3_500_00),
        ("financial", "2025-26", 3_000_00),
    ):
        r = await system.post(
            "coventry",
            "funding",
            "/budgets",
            {
                "period_kind": kind,
                "period": period,
                "function": "schools",
                "area": "coventry",
                "amount_pence": amount,
            },
        )
        assert r.status_code == 201
    bad = await system.post(
        "coventry",
        "funding",
        "/budgets",
        {
            "period_kind": "academic",
            "period": "2025-27",
            "function": "schools",
            "area": "coventry",
            "amount_pence": 1,
        },
    )
    assert bad.status_code == 422
    await system.report_when(lambda r: r.stamp.applied_events >= 10)

    from services.reporting.app import create_app

    app = create_app(system.reporting)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:

        async def line(kind: str, period: str) -> tuple[int, int, int]:
            rows = (
                await client.get("/report/funding/budget", params={"kind": kind, "period": period})
            ).json()
            assert len(rows) == 1, rows
            return rows[0]["budget_pence"], rows[0]["actual_pence"], rows[0]["variance_pence"]

        assert await line("academic", "2024-25") == (0, 111_00, 111_00)
        assert await line("academic", "2025-26") == (2_500_00, 7_000_00, 4_500_00)
        assert await line("financial", "2024-25") == (0, 1_00, 1_00)
        assert await line("financial", "2025-26") == (3_000_00, 3_110_00, 110_00)
        assert await line("financial", "2026-27") == (0, 4_000_00, 4_000_00)
        assert (
            await client.get("/report/funding/budget", params={"period": "2025"})
        ).status_code == 422
        summary = (
            await client.get(
                "/report/funding/summary", params={"kind": "financial", "period": "2024-25"}
            )
        ).json()
        assert (summary["income_by_source"], summary["spend_by_function"]) == (
            {"dfe_grant": 10_000_00},
            {"schools": 1_00},
        )
        summary = (await client.get("/report/funding/summary", params={"period": "2025-26"})).json()
        assert (summary["income_by_source"], summary["spend_by_function"]) == (
            {},
            {"schools": 7_000_00},
        )
