"""Hub-wide views against a small fixed dataset posted through the node services, checked against
figures computed by hand (below, beside each assertion)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from openpyxl import load_workbook

from services.reporting.app import create_app
from shared.pseudonym import make_upn
from tests.helpers import System, activity, income

DELIVERER = "01a2011f-0000-7000-8000-000000000006"
TODAY = date(2025, 9, 10)
A, B, C, D = "331369024061", "331369024062", "331369024063", "334100124064"


def pupil(digits: str, **extra: Any) -> dict[str, Any]:
    body = {
        "upn": make_upn(digits),
        "year_group": "4",
        "send": "none",
        "fsm": False,
        "ethnicity": "white",
        "gender": "female",
        "school_urn": "103690",
        "home_area": "coventry",
    }
    return {**body, **extra}


async def record(system: System, node: str, pupils: list[dict[str, Any]], **extra: Any) -> str:
    r = await system.post(
        node, "activities", "/activities", activity(DELIVERER, area=node, **extra)
    )
    assert r.status_code == 201, r.text
    activity_id = r.json()["activity_id"]
    r = await system.post(
        node, "activities", f"/activities/{activity_id}/participants", {"pupils": pupils}
    )
    assert r.status_code == 201, r.text
    return activity_id


async def entry(system: System, node: str, path: str, body: dict[str, Any]) -> str:
    r = await system.post(node, "funding", path, body)
    assert r.status_code == 201, r.text
    return str(r.json()["entry_id"])


def draw(entry_id: str, amount: int) -> list[dict[str, Any]]:
    return [{"entry_id": entry_id, "amount_pence": amount}]


async def load_dataset(system: System) -> dict[str, str]:
    """Four pupils, two nodes, two years; the 2023-24 WCET is posted last
    (late) and must land in 2023-24."""
    for urn, name in (("103690", "Canley Primary"), ("103691", "Earlsdon Primary")):
        r = await system.post(
            "coventry",
            "partners",
            "/settings",
            {
                "urn": urn,
                "name": name,
                "la_code": "331",
                "phase": "Primary",
                "setting_type": "Community school",
            },
        )
        assert r.status_code == 201, r.text
    ids = {
        "tuition": await record(
            system,
            "solihull",
            [
                pupil(A, year_group="5"),
                pupil(
                    D,
                    home_area="solihull",
                    school_urn="104100",
                    year_group="5",
                    fsm=True,
                    send="ehcp",
                    gender="male",
                ),
            ],
            kind="tuition",
            level="intermediate",
            setting_urn=None,
            headcount=2,
            hours="10",
            starts_on="2024-09-09",
            ends_on="2025-07-18",
            functions=["progression"],
        ),
        "ensemble": await record(
            system,
            "coventry",
            [pupil(B, year_group="5")],
            kind="ensemble",
            level="beginner",
            setting_urn=None,
            headcount=1,
            hours="20",
            starts_on="2024-09-09",
            ends_on="2025-07-18",
            functions=["progression"],
        ),
        "wcet": await record(
            system,
            "coventry",
            [pupil(A, fsm=True), pupil(B, send="support"), pupil(C, gender="male")],
            starts_on="2023-09-04",
            ends_on="2024-07-19",
            headcount=3,
        ),
    }
    dfe_cov = await entry(system, "coventry", "/income", income(1_000_00, received_on="2024-09-01"))
    parents = await entry(
        system,
        "coventry",
        "/income",
        income(250_00, source="parents", funder="Parents' fees", received_on="2024-09-02"),
    )
    await entry(
        system,
        "coventry",
        "/income",
        income(250_00, source="local_authority", funder="GB-LAE-COV", received_on="2024-09-03"),
    )
    dfe_sol = await entry(system, "solihull", "/income", income(1_000_00, received_on="2024-09-01"))
    sent = await entry(
        system,
        "solihull",
        "/allocations",
        {
            "to_node": "coventry",
            "stream": "revenue",
            "amount_pence": 200_00,
            "allocated_on": "2024-09-10",
            "funded_from": draw(dfe_sol, 200_00),
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
            "amount_pence": 200_00,
            "received_on": "2024-09-11",
        },
    )
    ids["commission"] = await entry(
        system,
        "coventry",
        "/commissions",
        {
            "recipient_organisation_id": str(uuid.uuid4()),
            "recipient_org_id": "GB-CHC-1158305",
            "recipient_name": "Orchestra of the Swan",
            "title": "Strings ensemble",
            "function": "progression",
            "area": "coventry",
            "activity_ids": [ids["ensemble"]],
            "stream": "revenue",
            "amount_pence": 300_00,
            "commissioned_on": "2024-10-01",
            "funded_from": [
                {"entry_id": dfe_cov, "amount_pence": 100_00},
                {"entry_id": received, "amount_pence": 200_00},
            ],
        },
    )
    ids["spend"] = await entry(
        system,
        "coventry",
        "/expenditure",
        {
            "category": "delivery",
            "function": "schools",
            "area": "coventry",
            "description": "Tutors",
            "payee": "Staff",
            "stream": "revenue",
            "amount_pence": 150_00,
            "spent_on": "2024-10-02",
            "funded_from": draw(parents, 150_00),
            "activity_ids": [ids["ensemble"]],
        },
    )
    r = await system.post(
        "coventry",
        "funding",
        "/budgets",
        {
            "period_kind": "academic",
            "period": "2024-25",
            "function": "schools",
            "area": "coventry",
            "amount_pence": 100_00,
        },
    )
    assert r.status_code == 201, r.text
    ids.update(dfe_cov=dfe_cov, dfe_sol=dfe_sol, sent=sent, received=received)
    # 2 settings + 3 activities + 3 participation events + 4 income + allocation + receipt +
    # commission + spend + budget
    await system.report_when(lambda r: r.stamp.applied_events >= 17, timeout=30)
    return ids


async def view(client: httpx.AsyncClient, name: str, **params: Any) -> dict[str, Any]:
    r = await client.get(f"/report/views/{name}", params={"today": str(TODAY), **params})
    assert r.status_code == 200, r.text
    return r.json()


def reporting_client(system: System) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(system.reporting)), base_url="http://reporting"
    )


async def test_pupils_schools_continuation_inclusion_and_progression_by_hand(
    system: System,
) -> None:
    await load_dataset(system)
    async with reporting_client(system) as client:
        reach = await view(client, "reach", period="2024-25")
        # A (solihull tuition, coventry home) counts once with B and D: 3 pupils, 3 participations.
        assert (reach["unique_pupils"], reach["participations"], reach["headcount"]) == (3, 3, 3)
        assert {r["group"]: r["unique_pupils"] for r in reach["breakdowns"]["area"]["rows"]} == {
            "coventry": 2,
            "solihull": 1,
        }
        assert {r["group"]: r["unique_pupils"] for r in reach["breakdowns"]["node"]["rows"]} == {
            "coventry": 1,
            "solihull": 2,
        }
        assert {r["group"]: r["unique_pupils"] for r in reach["breakdowns"]["partner"]["rows"]} == {
            DELIVERER: 3
        }
        assert reach["stamp"]["applied_events"] >= 17
        # Narrowed by function, the same figures come from pupil records:
        # all 2024-25 work is progression.
        assert (await view(client, "reach", period="2024-25", function="progression"))[
            "breakdowns"
        ] == reach["breakdowns"]
        home = await view(client, "reach", period="2024-25", area="solihull")
        assert (home["unique_pupils"], home["participations"]) == (1, 1)
        solihull_only = await view(client, "reach", period="2024-25", node="solihull")
        assert solihull_only["unique_pupils"] == 2 and solihull_only["headcount"] == 2

        # The WCET was posted last, yet its activity dates put it in 2023-24.
        earlier = await view(client, "reach", period="2023-24")
        assert (earlier["unique_pupils"], earlier["headcount"]) == (3, 3)
        schools = await view(client, "schools", period="2023-24")
        assert schools["engaged_urns"] == ["103690"]
        assert schools["areas"] == [
            {
                "area": "coventry",
                "engaged_schools": 1,
                "state_funded_schools": 2,
                "state_funded_engaged": 1,
                "state_funded_share": "50.0",
                "school_pupils": None,
                "school_pupils_year": None,
            }
        ]
        # WCET pupils A, B, C; A (tuition) and B (ensemble) continue in 2024-25: 2 of 3.
        assert {
            k: schools["wcet"][k] for k in ("schools", "pupils", "continued", "continuation_share")
        } == {"schools": 1, "pupils": 3, "continued": 2, "continuation_share": "66.7"}
        assert schools["wcet"]["pupils_by_year_group"] == {"4": 3}

        inclusion = await view(client, "inclusion", period="2024-25")
        got = {
            (c["characteristic"], c["value"]): (c["pupils"], c["share"])
            for c in inclusion["characteristics"]
        }
        # 2024-25 pupils A, B, D: D has FSM and an EHCP and is male; nobody is looked after.
        assert got[("fsm", "yes")] == (1, "33.3") and got[("fsm", "no")] == (2, "66.7")
        assert got[("send", "ehcp")] == (1, "33.3") and got[("gender", "male")] == (1, "33.3")
        assert got[("looked_after", "no")] == (3, "100.0")
        assert {c["population"] for c in inclusion["characteristics"]} == {
            "unknown: no school population data in the system"
        }
        # 2024-25: A and B's school 103690 is engaged through its pupils: 1 of Coventry's 2
        # (50% ≥ 25%), not cold.
        assert [(c["area"], c["unengaged_urns"]) for c in inclusion["cold_spots"]] == []
        cold = await view(
            client, "inclusion", period="2024-25", function="schools"
        )  # nothing for schools in 2024-25
        assert [(c["area"], c["unengaged_urns"]) for c in cold["cold_spots"]] == [
            ("coventry", ["103690", "103691"])
        ]

        progression = await view(client, "progression", period="2024-25")
        moves = {(t["from_level"], t["to_level"]): t["pupils"] for t in progression["transitions"]}
        assert moves == {
            ("beginner", "intermediate"): 1,
            ("beginner", "beginner"): 1,
            ("beginner", "none"): 1,
            ("none", "intermediate"): 1,
        }
        assert (
            progression["moved_up"],
            progression["ensemble_members"],
            progression["advanced_pupils"],
        ) == (1, 1, 0)


async def test_funding_allocation_leverage_budget_and_unit_costs_by_hand(system: System) -> None:
    ids = await load_dataset(system)
    async with reporting_client(system) as client:
        funding = await view(client, "funding", period="2024-25")
        assert funding["income_by_source_pence"] == {
            "dfe_grant": 2_000_00,
            "local_authority": 250_00,
            "parents": 250_00,
        }
        assert Decimal(funding["leverage_ratio"]) == Decimal("0.25")  # 500 other / 2,000 DfE
        assert funding["allocations_to_leads"] == [
            {"key": "solihull → coventry", "amount_pence": 200_00}
        ]
        assert funding["commissions_to_partners"] == [
            {"key": "Orchestra of the Swan", "amount_pence": 300_00}
        ]
        assert funding["spend_by_function"] == [
            {"key": "progression", "amount_pence": 300_00},
            {"key": "schools", "amount_pence": 150_00},
        ]
        assert [
            (b["function"], b["budget_pence"], b["actual_pence"], b["variance_pence"])
            for b in funding["budget"]
            if b["function"] == "schools"
        ] == [("schools", 100_00, 150_00, 50_00)]
        remaining = {s["entry_id"]: s["remaining_pence"] for s in funding["remaining_by_source"]}
        assert (
            remaining[ids["dfe_cov"]] == 900_00
            and remaining[ids["dfe_sol"]] == 800_00
            and remaining[ids["received"]] == 0
        )
        # 450 spent in 2024-25 over 3 participations, 3 pupils, 30 hours.
        assert {
            k: funding["unit_costs"][k]
            for k in (
                "spend_pence",
                "per_participant_pence",
                "per_unique_pupil_pence",
                "per_hour_pence",
            )
        } == {
            "spend_pence": 450_00,
            "per_participant_pence": 150_00,
            "per_unique_pupil_pence": 150_00,
            "per_hour_pence": 15_00,
        }
        coventry = await view(client, "funding", period="2024-25", node="coventry")
        assert coventry["income_by_source_pence"]["dfe_grant"] == 1_000_00 and Decimal(
            coventry["leverage_ratio"]
        ) == Decimal("0.50")
        financial = await view(client, "funding", period="2024-25", kind="financial")
        assert (
            financial["income_by_source_pence"]["dfe_grant"] == 2_000_00
            and financial["unit_costs"]["per_hour_pence"] is None
        )

        # Every figure expands into the events behind it, and they add up.
        for params, figure in (
            (("spend", "hub"), 450_00),
            (("income", "dfe_grant"), 2_000_00),
            (("budget", "coventry/schools/coventry"), 150_00),
            (("allocation", "coventry"), 200_00),
        ):
            r = await client.get(
                "/report/evidence",
                params={"view": params[0], "key": params[1], "period": "2024-25"},
            )
            body = r.json()
            assert (body["figure"], body["total"]) == (figure, figure), body
            assert all(
                e["event_id"] and e["node"] in ("coventry", "solihull") for e in body["events"]
            )
        pupils = (
            await client.get(
                "/report/evidence",
                params={"view": "pupils", "key": "coventry", "period": "2024-25"},
            )
        ).json()
        assert (pupils["figure"], pupils["total"], {e["event_type"] for e in pupils["events"]}) == (
            2,
            2,
            {"ParticipationRecorded"},
        )

        annual = await view(client, "annual-return", period="2024-25")
        assert annual["leverage_ratio"] == "0.25" and annual["spend_by_function_pence"] == {
            "progression": 300_00,
            "schools": 150_00,
        }
        assert {k["kind"]: k["unique_pupils"] for k in annual["delivery_by_kind"]} == {
            "ensemble": 1,
            "tuition": 2,
        }

        xlsx = await client.get(
            "/report/export/funding", params={"period": "2024-25", "format": "xlsx"}
        )
        wb = load_workbook(io.BytesIO(xlsx.content))
        sheet = wb["Spend by function"]
        assert [c.value for c in sheet[1]] == ["Function", "Amount (£)"]
        assert sheet["B2"].value == 300 and sheet["B2"].number_format == '"£"#,##0.00'
        csv = await client.get(
            "/report/export/funding",
            params={"period": "2024-25", "format": "csv", "table": "spend_by_function"},
        )
        assert csv.text.splitlines() == [
            '"Function","Amount (£)"',
            '"Progression",300.00',
            '"Schools",150.00',
        ]
        assert (await client.get("/report/views/nothing")).status_code == 404
        assert (
            await client.get("/report/views/reach", params={"period": "2024-26"})
        ).status_code == 422


async def test_a_grant_is_followed_to_activities_and_an_activity_back_to_its_pounds(
    system: System,
) -> None:
    ids = await load_dataset(system)
    async with reporting_client(system) as client:
        down = (await client.get(f"/report/funding/follow/solihull/{ids['dfe_sol']}")).json()
        up = (await client.get(f"/report/funding/activities/{ids['ensemble']}/pounds")).json()
    # Solihull's grant: 200 allocated to Coventry, received,
    # 200 of it into the commission funding the ensemble.
    assert (
        down["amount_pence"],
        down["used_pence"],
        down["remaining_pence"],
        down["reconciles"],
    ) == (1_000_00, 200_00, 800_00, True)
    [allocation] = down["children"]
    [receipt] = allocation["children"]
    [commission] = receipt["children"]
    assert (
        allocation["kind"],
        allocation["drawn_pence"],
        receipt["kind"],
        receipt["drawn_pence"],
    ) == ("allocation", 200_00, "received", 200_00)
    assert (commission["kind"], commission["drawn_pence"], commission["activity_ids"]) == (
        "commission",
        200_00,
        [ids["ensemble"]],
    )
    # a commission is where its money is used: paid out whole, nothing left
    assert (commission["used_pence"], commission["remaining_pence"]) == (300_00, 0)
    assert down["activities"] == {ids["ensemble"]: 200_00}
    # The ensemble is named by the commission (300) and the tutors' spend (150): 450,
    # from three sources.
    assert up["total_pence"] == 450_00
    assert sorted((s["node"], s["kind"], s["pence"]) for s in up["sources"]) == [
        ("coventry", "income", 100_00),
        ("coventry", "income", 150_00),
        ("solihull", "income", 200_00),
    ]
    assert sum(s["pence"] for s in up["sources"]) == up["total_pence"]


async def test_transparency_suppresses_small_counts_and_their_complements() -> None:
    from services.reporting.read.views.transparency import suppress

    assert suppress({"a": 40, "b": 3, "c": 12}, 55) == ({"a": "40", "b": "c", "c": "c"}, "55")
    assert suppress({"a": 40, "b": 3, "c": 4}, 47) == ({"a": "40", "b": "c", "c": "c"}, "47")
    assert suppress({"a": 40, "b": 0, "c": 15}, 55) == ({"a": "40", "b": "0", "c": "15"}, "55")
    assert suppress({"a": 5, "b": 3}, 8) == ({"a": "c", "b": "c"}, "c")
    assert suppress({"a": 5, "b": 3}, 8, threshold=3) == ({"a": "5", "b": "3"}, "8")


async def test_the_transparency_view_publishes_no_count_below_the_threshold(system: System) -> None:
    await load_dataset(system)
    async with reporting_client(system) as client:
        public = await view(client, "transparency", period="2024-25")
        lenient = await view(client, "transparency", period="2024-25", threshold=2)
    assert all(
        t["total"] in ("c", "0") and all(r["pupils"] in ("c", "0") for r in t["rows"])
        for t in public["tables"]
    )
    assert next(t for t in public["tables"] if t["name"] == "pupils by area")["total"] == "c"
    by_area = next(t for t in lenient["tables"] if t["name"] == "pupils by area")
    assert (by_area["total"], {r["group"]: r["pupils"] for r in by_area["rows"]}) == (
        "3",
        {"coventry": "c", "solihull": "c"},
    )


async def test_every_view_is_served_stamped_and_exports(system: System) -> None:
    await load_dataset(system)
    async with reporting_client(system) as client:
        names = (await client.get("/report/views")).json()
        for name in names:
            body = await view(client, name, period="2024-25")
            assert body["stamp"]["applied_events"] >= 17, name
            xlsx = await client.get(
                f"/report/export/{name}", params={"period": "2024-25", "today": str(TODAY)}
            )
            assert (
                xlsx.status_code == 200
                and load_workbook(io.BytesIO(xlsx.content)).sheetnames[0] == "Summary"
            )
        stamp = body["stamp"]
        expected = (
            f"hub_stream_seq={stamp['hub_stream_seq']}; applied_events={stamp['applied_events']}; "
            f"chain_head={stamp['chain_head']}"
        )
        for path, query in (
            ("/report/funding/assets", {}),
            ("/report/funding/budget", {"period": "2024-25"}),
            ("/report/export/funding", {"period": "2024-25", "format": "csv"}),
            ("/report", {}),
        ):
            r = await client.get(path, params=query)
            assert r.status_code == 200 and r.headers["x-report-stamp"] == expected, (
                path,
                r.headers,
            )
    assert set(names) >= {
        "reach",
        "schools",
        "inclusion",
        "progression",
        "partnerships",
        "funding",
        "data-health",
        "annual-return",
        "transparency",
    }


def hub_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], capture_output=True, text=True, timeout=120
    )


async def test_views_and_exports_from_the_shell(system: System, tmp_path: Path) -> None:
    await load_dataset(system)
    data = ["--data-dir", str(tmp_path)]
    shown = hub_cli("report", "reach", "--period", "2024-25", "--node", "solihull", "--json", *data)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["unique_pupils"] == 2
    table = hub_cli("report", "funding", "--period", "2024-25", *data)
    assert (
        table.returncode == 0 and "spend_by_function" in table.stdout and "£300.00" in table.stdout
    ), table.stderr
    out = tmp_path / "annual-return.xlsx"
    assert (
        hub_cli(
            "export", "annual-return", "--period", "2024-25", "--out", str(out), *data
        ).returncode
        == 0
    )
    book = load_workbook(out)
    assert {"Summary", "Delivery by kind"} <= set(book.sheetnames)
    figures = [row[0] for row in book["Summary"].iter_rows(values_only=True)]
    assert "Whole class ensemble teaching: pupils" in figures
    folder = tmp_path / "csv"
    assert (
        hub_cli(
            "export",
            "funding",
            "--format",
            "csv",
            "--period",
            "2024-25",
            "--out",
            str(folder),
            *data,
        ).returncode
        == 0
    )
    assert (folder / "spend-by-function.csv").read_text().splitlines() == [
        '"Function","Amount (£)"',  # pounds, the unit in the header
        '"Progression",300.00',
        '"Schools",150.00',
    ]
    behind = hub_cli("report", "evidence", "spend", "hub", "--period", "2024-25", "--json", *data)
    assert behind.returncode == 0, behind.stderr
    body = json.loads(behind.stdout)
    assert (body["figure"], body["total"], len(body["events"])) == (450_00, 450_00, 2)
    bad = hub_cli("report", "reach", "--period", "2024-26", *data)
    assert bad.returncode != 0 and "2024-26" in bad.stderr
