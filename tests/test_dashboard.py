"""The dashboard's pages over the fixed dataset of test_reporting_views: figures as the views give
them, filters in the URL, traces that add up, downloads, and each role's scope enforced."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from services.reporting.app import create_app
from services.reporting.dashboard import dashboard_pages
from tests.dashboard_helpers import PERIOD, dashboard_app, signed_in, text_of
from tests.helpers import System
from tests.test_reporting_views import DELIVERER, load_dataset


async def test_every_page_renders_for_a_manager(system: System, tmp_path: Path) -> None:
    await load_dataset(system)
    app = dashboard_app(system, tmp_path)
    async with signed_in(app, "manager") as client:
        for url in dashboard_pages(PERIOD) + dashboard_pages(
            "2020-21", node="solihull"
        ):  # and a year with nothing
            r = await client.get(url)
            assert r.status_code == 200, (url, r.text[-2000:])
        overview = text_of((await client.get(f"/dashboard/?period={PERIOD}")).text)
        # 2024-25: A, B and D; headcounts 2 + 1; every lead organisation and the hub total listed
        assert (
            "Unique pupils 3" in overview and "Headcount 3" in overview and "hub 2 3 6" in overview
        )
        moved = await client.get(f"/dashboard/areas/coventry?period={PERIOD}&area=solihull")
        assert moved.status_code == 303, moved.text[-500:]
        assert (
            moved.headers["location"] == f"/dashboard/areas/solihull?period={PERIOD}&kind=academic"
        )  # the filter picks the area
        partner = (await client.get(f"/dashboard/?period={PERIOD}&partner={DELIVERER}")).text
        assert f"/dashboard/partners/{DELIVERER}?" in partner  # where the partner filter applies


async def test_figures_trace_and_downloads_match_the_views(system: System, tmp_path: Path) -> None:
    ids = await load_dataset(system)
    app = dashboard_app(system, tmp_path)
    async with signed_in(app, "auditor") as client:
        page = text_of((await client.get(f"/dashboard/funding?period={PERIOD}")).text)
        # income 2024-25: Coventry £1,000 DfE + £250 parents + £250 LA,
        # Solihull £1,000 DfE; leverage 500/2000 = 0.25
        assert "£2,000.00" in page and "£1,000.00" in page
        assert (
            "DfE grant Coventry £1,000.00" in page and "Solihull Coventry £200.00" in page
        )  # the flows table
        trace = text_of(
            (await client.get(f"/dashboard/trace?view=income&key=hub&period={PERIOD}")).text
        )
        assert "£2,500.00" in trace and "adds up" in trace
        r = await client.get(f"/dashboard/download/funding.csv?period={PERIOD}&table=budget")
        assert r.status_code == 200 and r.headers["content-disposition"].endswith(
            'funding-2024-25.csv"'
        )
        assert (
            '"Coventry","Schools","Coventry",100.00,150.00,50.00' in r.text
        )  # budget £100, actual £150 (the tutors), in pounds
        xlsx = await client.get(f"/dashboard/download/reach.xlsx?period={PERIOD}&area=coventry")
        assert "Summary" in load_workbook(io.BytesIO(xlsx.content)).sheetnames
        reach = json.loads(
            (await client.get(f"/dashboard/download/reach.json?period={PERIOD}&area=coventry")).text
        )
        assert reach["unique_pupils"] == 2  # A and B live in Coventry
        assert (await client.get("/dashboard/download/360giving.json")).status_code == 200
        trail = text_of(
            (await client.get(f"/dashboard/trace/grant/coventry/{ids['dfe_cov']}")).text
        )
        # Coventry's £1,000 DfE income: £100 of it funds the £300 strings commission,
        # for the ensemble
        assert "Reconciles" in trail and "£100.00 of it from step 1" in trail and "£900.00" in trail
        audit = text_of((await client.get("/dashboard/audit")).text)
        assert "Verified" in audit and "17 applied events" in audit


async def test_node_staff_see_their_node_and_area_only(system: System, tmp_path: Path) -> None:
    await load_dataset(system)
    app = dashboard_app(system, tmp_path)
    async with signed_in(app, "coventry-staff") as client:
        overview = text_of((await client.get(f"/dashboard/?period={PERIOD}")).text)
        assert "Lead organisation All" not in overview  # no node choice: forced to their own
        reach = json.loads(
            (await client.get(f"/dashboard/download/reach.json?period={PERIOD}")).text
        )
        assert (
            reach["node"] == "coventry" and reach["unique_pupils"] == 1
        )  # only B, in Coventry's ensemble
        for url in (
            f"/dashboard/?node=solihull&period={PERIOD}",
            "/dashboard/areas/solihull",
            f"/dashboard/trace?view=pupils&key=hub&period={PERIOD}",
            f"/dashboard/trace?view=income&key=hub&period={PERIOD}",
            f"/dashboard/download/reach.json?node=solihull&period={PERIOD}",
            "/dashboard/download/360giving.json",
            "/dashboard/trace/grant/solihull/anything",
            "/dashboard/views/summary",
            "/dashboard/download/summary.json",
            "/dashboard/views/data-health",
            "/dashboard/download/data-health.csv",
        ):  # hub-wide views list every node
            assert (await client.get(url)).status_code == 403, url
        views = (await client.get(f"/dashboard/views/reach?period={PERIOD}")).text
        assert "/dashboard/views/reach" in views and "/dashboard/views/summary" not in views
        assert (
            await client.get(f"/dashboard/trace?view=pupils&key=coventry&period={PERIOD}")
        ).status_code == 200
        assert (await client.get("/dashboard/areas/coventry")).status_code == 200


async def test_sign_in_is_required_and_refuses_wrong_passwords(
    system: System, tmp_path: Path
) -> None:
    app = dashboard_app(system, tmp_path)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:
        r = await client.get("/dashboard/funding?period=2024-25")
        assert (
            r.status_code == 303
            and r.headers["location"]
            == "/dashboard/login?next=/dashboard/funding%3Fperiod%3D2024-25"
        )
        assert (await client.get("/dashboard/download/reach.csv")).status_code == 303
        bad = await client.post(
            "/dashboard/login", data={"username": "manager", "password": "wrong"}
        )
        assert (
            bad.status_code == 401
            and "not right" in bad.text
            and "hub_dashboard" not in bad.headers.get("set-cookie", "")
        )
        away = await client.post(
            "/dashboard/login",
            data={
                "username": "manager",
                "password": "manager-pw",
                "next": "https://elsewhere.example/",
            },
        )
        assert away.headers["location"] == "/dashboard/"  # no open redirect
        forged = await client.post(
            "/dashboard/login",
            data={"username": "manager", "password": "manager-pw"},
            headers={"Origin": "https://elsewhere.example"},
        )
        assert forged.status_code == 403  # a sign-in form posted from another site
        assert (await client.get("/dashboard/")).status_code == 200
        assert (
            await client.get("/dashboard/static/govuk/govuk-frontend.min.css")
        ).status_code == 200
        await client.post("/dashboard/logout")
        assert (await client.get("/dashboard/")).status_code == 303


async def test_dashboard_is_closed_without_users_when_the_api_needs_tokens(
    system: System, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text("{}")
    system.reporting.settings = system.reporting.settings.model_copy(
        update={"auth_tokens_file": tokens}
    )
    app = create_app(system.reporting)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:
        assert (await client.get("/dashboard/")).status_code == 303  # to sign in, where nobody can
        refused = await client.post(
            "/dashboard/login", data={"username": "developer", "password": "x"}
        )
        assert refused.status_code == 401
        assert (await client.get("/report")).status_code == 401  # the API keeps its bearer tokens


async def test_the_partner_filter_is_a_list_up_to_the_limit_and_a_box_beyond(
    system: System, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.reporting.dashboard import routes

    await load_dataset(system)
    app = dashboard_app(system, tmp_path)
    async with signed_in(app, "manager") as client:
        listed = (await client.get(f"/dashboard/?period={PERIOD}")).text
        assert "<select" in listed and 'id="f-partner" name="partner" type="text"' not in listed
    monkeypatch.setattr(routes, "PARTNER_CHOICES", 1)  # the dataset has more partners than that
    app = dashboard_app(
        system, tmp_path
    )  # a limit is configuration: a new process (pages are held per version)
    async with signed_in(app, "manager") as client:
        boxed = (await client.get(f"/dashboard/?period={PERIOD}")).text
        assert 'id="f-partner" name="partner" type="text"' in boxed


async def test_the_menu_lets_each_page_choose_its_own_year(system: System, tmp_path: Path) -> None:
    """A year the page defaulted to is not carried by the menu (the overview's latest year with
    delivery may have no money); a year the reader chose is."""
    await load_dataset(system)
    app = dashboard_app(system, tmp_path)
    async with signed_in(app, "manager") as client:
        defaulted = (await client.get("/dashboard/")).text
        assert 'href="/dashboard/funding?kind=academic"' in defaulted
        chosen = (await client.get(f"/dashboard/?period={PERIOD}")).text
        assert f'href="/dashboard/funding?period={PERIOD}&amp;kind=academic"' in chosen


async def test_income_entries_name_their_funder(system: System, tmp_path: Path) -> None:
    """A funder recorded by its org-id (the DfE grant's Arts Council England) is shown by name."""
    await load_dataset(system)
    app = dashboard_app(system, tmp_path)
    async with signed_in(app, "manager") as client:
        page = text_of((await client.get(f"/dashboard/funding?period={PERIOD}")).text)
        income = page[page.index("follow the money") :]
        assert "Arts Council England" in income and "GB-CHC-1036733" not in income
        assert "Parents&#39; fees" in income  # a funder recorded by name keeps it
