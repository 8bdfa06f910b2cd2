"""Partner pages per node: a partner's figures are its own node's, never another's matched by name;
registrations sharing an org-id are one organisation hub-wide (docs/partners.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.dashboard_helpers import dashboard_app, signed_in, text_of
from tests.helpers import System, activity, income, organisation

PERIOD = "2024-25"
SWAN = "Orchestra of the Swan"
SHARED_ORG_ID = "GB-CHC-1158305"


async def register(system: System, node: str, name: str, **extra: Any) -> str:
    r = await system.post(
        node, "partners", "/organisations", organisation(name, areas=[node], **extra)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["organisation_id"])


async def commission(
    system: System,
    node: str,
    source: str,
    to: str,
    name: str,
    pence: int,
    org_id: str | None = None,
) -> None:
    r = await system.post(
        node,
        "funding",
        "/commissions",
        {
            "recipient_organisation_id": to,
            "recipient_org_id": org_id,
            "recipient_name": name,
            "title": "Strings",
            "function": "progression",
            "area": node,
            "activity_ids": [],
            "stream": "revenue",
            "amount_pence": pence,
            "commissioned_on": "2024-10-01",
            "funded_from": [{"entry_id": source, "amount_pence": pence}],
        },
    )
    assert r.status_code == 201, r.text


async def delivered(
    system: System, node: str, by: str, hours: str, starts_on: str = "2024-09-09"
) -> None:
    r = await system.post(
        node,
        "activities",
        "/activities",
        activity(
            by,
            area=node,
            setting_urn=None,
            hours=hours,
            kind="ensemble",
            starts_on=starts_on,
            ends_on=starts_on[:4] + "-12-18",
        ),
    )
    assert r.status_code == 201, r.text


async def test_partner_pages_per_node(system: System, tmp_path: Path) -> None:
    swan = {node: await register(system, node, SWAN) for node in ("coventry", "solihull")}
    shared = {
        node: await register(system, node, "Shared Strings Trust", org_id=SHARED_ORG_ID)
        for node in ("coventry", "solihull")
    }
    grants = {}
    for node in ("coventry", "solihull"):
        r = await system.post(
            node, "funding", "/income", income(10_000_00, received_on="2024-09-01")
        )
        assert r.status_code == 201, r.text
        grants[node] = r.json()["entry_id"]
    # Same name, no org-id, different sums: each node's Swan is its own organisation.
    await commission(system, "coventry", grants["coventry"], swan["coventry"], SWAN, 445_00)
    await commission(system, "solihull", grants["solihull"], swan["solihull"], SWAN, 452_33)
    # One org-id at both nodes (once named by org-id, once only by the node's register id):
    # one organisation.
    await commission(
        system,
        "coventry",
        grants["coventry"],
        shared["coventry"],
        "Shared Strings Trust",
        100_00,
        SHARED_ORG_ID,
    )
    await commission(
        system, "solihull", grants["solihull"], shared["solihull"], "Shared Strings Trust", 20_00
    )
    await delivered(system, "coventry", swan["coventry"], "12")
    await delivered(system, "solihull", swan["solihull"], "30")
    await delivered(system, "solihull", shared["solihull"], "7")
    await delivered(system, "coventry", swan["coventry"], "5", starts_on="2022-10-03")
    await system.report_when(lambda r: r.stamp.applied_events >= 14, timeout=30)

    app = dashboard_app(system, tmp_path)
    async with signed_in(app, "manager") as client:
        pages = {
            (who, node): text_of((await page(client, ids[node])).text)
            for who, ids in (("swan", swan), ("shared", shared))
            for node in ids
        }
    assert "£445.00" in pages["swan", "coventry"] and "£452.33" not in pages["swan", "coventry"]
    assert "£452.33" in pages["swan", "solihull"] and "£445.00" not in pages["swan", "solihull"]
    assert (
        "£897.33" not in pages["swan", "coventry"] + pages["swan", "solihull"]
    )  # the hub-wide sum by name
    history = (
        pages["swan", "coventry"].split("Across the years")[1].split("Activities delivered")[0]
    )
    assert f"{PERIOD} (selected) 1 0 0 12 £445.00 2022-23 1 0 0 5 £0.00" in history  # every year
    assert (
        f"Hours delivered ({PERIOD}) 12" in pages["swan", "coventry"]
        and f"Hours delivered ({PERIOD}) 30" in pages["swan", "solihull"]
    )
    for node in (
        "coventry",
        "solihull",
    ):  # one organisation: the same figures from either node's registration
        assert (
            "£120.00" in pages["shared", node]
            and f"Hours delivered ({PERIOD}) 7" in pages["shared", node]
        )

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:
        for ids, node, pence in (
            (swan, "coventry", 445_00),
            (swan, "solihull", 452_33),
            (shared, "coventry", 120_00),
            (shared, "solihull", 120_00),
        ):
            r = await client.get(
                "/report/evidence",
                params={"view": "commission", "key": ids[node], "period": PERIOD},
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert (body["figure"], body["total"]) == (
                pence,
                pence,
            )  # the page's trace adds up to the page's figure
        funding = (await client.get("/report/views/funding", params={"period": PERIOD})).json()
        # The funding view's rows are organisations too: each node's Swan, and the org-id once.
        rows = {row["key"]: row["amount_pence"] for row in funding["commissions_to_partners"]}
        assert rows == {
            f"{SWAN} (coventry)": 445_00,
            f"{SWAN} (solihull)": 452_33,
            "Shared Strings Trust": 120_00,
        }
        for key, pence in rows.items():  # and each row's trace adds up to it
            r = await client.get(
                "/report/evidence", params={"view": "commission", "key": key, "period": PERIOD}
            )
            assert (r.json()["figure"], r.json()["total"]) == (pence, pence)


async def page(client: httpx.AsyncClient, organisation_id: str) -> httpx.Response:
    r = await client.get(
        f"/dashboard/partners/{organisation_id}", params={"period": PERIOD, "kind": "academic"}
    )
    assert r.status_code == 200, r.text
    return r
