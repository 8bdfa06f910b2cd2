"""A partner's return end to end in headless chromium (issue 27): node staff sign in and invite a
partner; the partner opens the link, adds an activity, uploads a register with errors and sees each
row, column and reason, fixes it, names its schools, checks its answers and submits; staff accept
it; the hub counts its activities and pupils and shows the return received. axe-core finds no
serious or critical violation on any page, and the partner's pages work without JavaScript.

Skipped when chromium is missing, unless HUB_REQUIRE_BROWSER=1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.browser import CHROMIUM_ARGS, axe_violations, chromium_path
from services.activities.app import use_partners_at
from services.reporting.read.views.activities import partner_returns, reach
from shared.nats_server import NatsServer
from shared.pseudonym import make_upn
from tests.guarded_helpers import (
    OTHER,
    OWN,
    STAFF,
    add_schools,
    guarded_settings,
    started,
    with_service_tokens,
)
from tests.helpers import System, organisation, wait_for
from tests.test_dashboard_browser import served

pytestmark = [pytest.mark.browser, pytest.mark.slow]
YEAR = "2024-25"
HEADER = "activity_ref,kind,title,starts_on,ends_on,upn,year_group,home_area,fsm\n"
DUE = date.today() + timedelta(days=30)
PUPILS = [make_upn(f"93720102400{n}") for n in range(1, 4)]


@pytest.fixture
async def hub(
    tmp_path: Path, hub_id: str, nats_server: NatsServer
) -> AsyncIterator[tuple[System, dict[str, str]]]:
    tokens = with_service_tokens(tmp_path)
    system = System(
        guarded_settings(tmp_path, hub_id), nats_server.url, tokens={OWN: tokens[STAFF]}
    )
    async with started(system):
        await add_schools(system)
        yield system, tokens


def register(path: Path, bad: bool) -> Path:
    """Two pupils in a cello class and one in a choir; the bad copy mistypes a check letter and a
    year group."""
    first = PUPILS[0][:-1] + ("0" if PUPILS[0][-1] != "0" else "1") if bad else PUPILS[0]
    year_group = "14" if bad else "5"
    path.write_text(
        HEADER
        + f"C1,tuition,Cello group,2024-10-01,2025-03-31,{first},5,{OWN},yes\n"
        + f"C1,tuition,Cello group,2024-10-01,2025-03-31,{PUPILS[1]},{year_group},{OWN},no\n"
        + f"V1,ensemble,Junior choir,2024-09-15,2025-07-10,{PUPILS[2]},3,{OTHER},no\n"
    )
    return path


async def test_a_partner_fills_in_and_submits_staff_accept_and_the_hub_counts_it(
    hub: tuple[System, dict[str, str]], tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    system, tokens = hub
    r = await system.post(OWN, "partners", "/organisations", organisation("Canal Side Strings"))
    partner_id = r.json()["organisation_id"]
    problems: list[str] = []
    async with (
        served(system._apps[(OWN, "partners")]) as partners_url,
        served(system._apps[(OWN, "activities")]) as url,
        async_playwright() as pw,
    ):
        use_partners_at(system._apps[(OWN, "activities")], partners_url)  # over real HTTP
        browser = await pw.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            staff = await (await browser.new_context(base_url=url)).new_page()
            link = await invite(staff, tokens[STAFF], partner_id, problems)
            phone = await browser.new_context(
                viewport={"width": 320, "height": 640}, java_script_enabled=False
            )
            await fill_in(await phone.new_page(), link, tmp_path, problems)
            await staff.goto("/staff/returns")
            assert "submitted" in await staff.locator("#returns").inner_text()
            problems += await violations(staff) + await on_a_phone(staff)
            await staff.get_by_role("link", name="Canal Side Strings").click()
            problems += await violations(staff) + await on_a_phone(staff)
            await staff.get_by_role("button", name="Accept this return").click()
            assert await staff.locator("#status").inner_text() == "accepted"
        finally:
            await browser.close()
    assert problems == [], "\n".join(problems)
    await counted_at_the_hub(system, partner_id)


async def invite(page: Any, token: str, partner_id: str, problems: list[str]) -> str:
    await page.goto("/staff/returns")
    assert page.url.endswith("/staff/sign-in")  # signed out: sent to sign in
    problems += await violations(page)
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/staff/returns")
    await page.get_by_role("link", name="Invite a partner").click()
    problems += await violations(page)
    await page.fill("#partner_id", partner_id)
    await page.fill("#partner_name", "Canal Side Strings")
    await page.fill("#academic_year", YEAR)
    await page.fill("#due_on", DUE.isoformat())
    await page.click("button[type=submit]")
    problems += await violations(page)
    return str(await page.locator("#invitation-link").inner_text())


async def fill_in(page: Any, link: str, folder: Path, problems: list[str]) -> None:
    """The partner, on a phone with JavaScript off."""
    await page.goto(link)
    problems += await violations_without_js(page)
    await page.get_by_role("button", name="Start now").click()
    await page.wait_for_url("**/return/")
    problems += await violations_without_js(page)

    await page.get_by_role("link", name="Add an activity").click()
    await page.click("button[type=submit]")  # nothing chosen: an error, nothing kept
    assert "There is a problem" in await page.locator(".govuk-error-summary").inner_text()
    problems += await violations_without_js(page)
    await page.check("#kind-tuition")
    await continue_(page)
    await search(page, "whitley", problems)
    await page.check("#setting_urn-103801")
    await continue_(page)
    await page.fill("#title", "Brass after school")
    await page.fill("#starts_on", "2024-09-09")
    await page.fill("#ends_on", "2025-07-18")
    await page.fill("#hours", "30")
    await continue_(page)
    await page.fill("#headcount", "12")
    await continue_(page)
    await page.check("#functions-progression")
    await page.check("#aims-progress_talent")
    await page.check("#level-beginner")
    problems += await violations_without_js(page)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/return/")
    assert await page.locator("#activities-status").inner_text() == "1 added"

    await page.get_by_role("link", name="Add whole-class ensemble teaching (WCET)").click()
    await search(page, "stoke", problems)
    await page.check("#setting_urn-103712")
    await continue_(page)
    await page.fill("#instrument", "ukulele")
    await page.fill("#year_groups", "4")
    await continue_(page)
    await page.fill("#starts_on", "2024-09-09")
    await page.fill("#ends_on", "2025-07-18")
    await page.fill("#weeks", "33")
    await page.fill("#hours", "33")
    await continue_(page)
    await page.fill("#pupils", "27")
    problems += await violations_without_js(page)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/return/")
    assert await page.locator("#wcet-status").inner_text() == "1 added"

    await page.get_by_role("link", name="Add CPD you gave").click()
    await page.fill("#title", "Leading singing in class")
    await page.fill("#starts_on", "2024-11-04")
    await page.fill("#ends_on", "2025-01-20")
    await continue_(page)
    await page.fill("#sessions", "2")
    await page.fill("#hours", "4")
    await page.fill("#attendees", "9")
    await continue_(page)
    await search(page, "stoke", problems)
    await page.check("#schools-103712")
    await page.check("#schools-103745")
    await page.get_by_role("button", name="Save and continue").click()
    await page.wait_for_url("**/return/")
    assert await page.locator("#cpd-status").inner_text() == "1 added"

    await page.get_by_role("link", name="Upload a register of participants").click()
    await page.set_input_files("#register", str(register(folder / "register.csv", bad=True)))
    await page.get_by_role("button", name="Upload and check").click()
    await page.wait_for_url("**/return/participants")
    rows = await page.locator("#problems tbody tr").all_inner_texts()
    assert [r.split("\t")[:2] for r in rows] == [["2", "upn"], ["3", "year_group"]], rows
    html = await page.content()
    assert not [p for p in PUPILS if p[1:] in html]  # no UPN quoted back, mistyped or not
    problems += await violations_without_js(page)
    await page.set_input_files("#register", str(register(folder / "fixed.csv", bad=False)))
    await page.get_by_role("button", name="Upload and check").click()
    assert "3 rows, 3 pupils" in await page.locator("#register-ok").inner_text()

    await page.get_by_role("link", name="Continue to your return").click()
    await page.get_by_role("link", name="Schools you worked with").click()
    await page.fill("#schools", "103712\n103745")
    await page.get_by_role("button", name="Save and continue").click()
    await page.get_by_role("link", name="Check your answers and submit").click()
    assert "3 rows, 2 activities, 3 pupils" in await page.locator("#check-register").inner_text()
    problems += await violations_without_js(page)
    await page.get_by_role("button", name="Accept and send").click()
    await page.wait_for_url("**/return/done")
    assert "Return sent" in await page.locator(".govuk-panel").inner_text()
    problems += await violations_without_js(page)


async def on_a_phone(page: Any) -> list[str]:
    """The page at 320 px does not scroll sideways (WCAG 1.4.10), then back to a desktop."""
    await page.set_viewport_size({"width": 320, "height": 640})
    width = await page.evaluate("document.documentElement.scrollWidth")
    await page.set_viewport_size({"width": 1280, "height": 720})
    return [] if width <= 320 else [f"{page.url} is {width} px wide on a 320 px phone"]


async def violations(page: Any) -> list[str]:
    """Every axe-core violation (WCAG 2.2 AA), whatever its impact."""
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} at "
        f"{[n['target'] for n in v['nodes']][:3]}"
        for v in await axe_violations(page)
    ]


async def continue_(page: Any) -> None:
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_load_state()
    assert "There is a problem" not in await page.content()


async def search(page: Any, text: str, problems: list[str]) -> None:
    """Find a school by name in the node's register (a GET form: no script needed)."""
    await page.fill("#q", text)
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_load_state()
    problems += await violations_without_js(page)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"{page.url} is {width} px wide on a 320 px phone"


async def violations_without_js(page: Any) -> list[str]:
    """axe needs script: check the same page's HTML in a context that runs it."""
    html = await page.content()
    context = await page.context.browser.new_context(base_url=page.url)
    try:
        checked = await context.new_page()

        async def as_seen(route: Any) -> None:
            if route.request.resource_type == "document":
                await route.fulfill(body=html, content_type="text/html")
            else:
                await route.continue_()

        await checked.route("**/*", as_seen)
        await checked.goto(page.url)
        return await violations(checked)
    finally:
        await context.close()


async def counted_at_the_hub(system: System, partner_id: str) -> None:
    """Two activities from the register, one from the form, a WCET class and a CPD; three
    pupils, each once."""

    async def figures() -> tuple[int, int, list[Any]]:
        async with system.reporting.read_sessions() as session:
            pupils = await reach(session, YEAR, "area")
            returns = await partner_returns(session, YEAR, date.today())
        report = await system.report()
        activities = next(n.activities for n in report.nodes if n.node == OWN)
        return activities, pupils.unique_pupils, returns

    activities, pupils, returns = await wait_for(
        figures, lambda f: f[0] == 5 and f[1] == 3 and any(r.submitted_on for r in f[2]), 30
    )
    assert (activities, pupils) == (5, 3)
    (line,) = [r for r in returns if r.partner_id == partner_id]
    assert line.status == "received" and line.submitted_on == date.today()
