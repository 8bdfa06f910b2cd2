"""Every dashboard page, at 320 px (WCAG 1.4.10 reflow) and 1280 px wide, in headless chromium:
no sideways page scroll, axe-core (vendored, harness/vendor/axe-core) finds no violation at all,
chart text is 12 px or more, every table's columns in view at 1280 px, a link's keyboard focus is
visible, the "Menu" toggle works on a phone, and no visible table cell is a bare UUID.

The pages come from the app's own route table: every GET route under /dashboard/ that answers a
page. A route without parameters is visited as it is; one with parameters at the first link to it
found on the pages already visited (views: every view of the catalogue), so a new page is
covered as soon as something links to it (and the test fails, naming it, when nothing does)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI

from harness.browser import axe_violations, browser_page, sign_in
from services.reporting.read.catalogue import VIEWS
from shared.auth import api_routes
from tests.dashboard_helpers import PERIOD, USERS, dashboard_app
from tests.helpers import System, income
from tests.test_dashboard_browser import served
from tests.test_funding import draw, entry, spend
from tests.test_reporting_views import load_dataset

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WIDTHS = (320, 1280)
NOT_PAGES = ("/dashboard/download/",)
"""Routes that answer files, not pages."""
STARTS = {"/dashboard/trace": "?view=pupils&key=hub"}
"""Query a page needs beyond the filters (the figure a trace is of)."""
UUID_CELLS_LEFT_TO = ("/dashboard/trace",)
"""Traces list events by id on purpose (each its own row); every other page shows names."""
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"
SMALL_TEXT = """() => [...document.querySelectorAll('svg.hl-chart text')]
  .filter(t => t.getClientRects().length)
  .map(t => [t.textContent, parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a])
  .filter(([, px]) => px < 11.95)
  .map(([text, px]) => `${text} at ${px.toFixed(1)} px`)"""
WIDE_TABLES = """() => [...document.querySelectorAll('.hl-scroll')]
  .filter(r => !r.closest('.hl-payload') && r.scrollWidth > r.clientWidth + 1)
  .map(r => `${r.getAttribute('aria-label')} (${r.scrollWidth} px in ${r.clientWidth})`)"""
"""On a desktop every column of a table is in view (its scroll region is for phones); an event's
payload, laid out as published, may have more fields than a screen."""
UUID_CELLS = """(pattern) => [...document.querySelectorAll('table td, table th')]
  .filter(c => c.getClientRects().length && new RegExp(pattern, 'i').test(c.innerText.trim()))
  .map(c => c.innerText.trim())"""
FOCUS_STYLE = """(a) => { const s = getComputedStyle(a);
  return [s.outlineStyle + s.outlineWidth, s.boxShadow, s.backgroundColor, s.color].join('|'); }"""


def page_routes(app: FastAPI) -> list[Any]:
    """Every GET route of the dashboard that answers a page, from the app's route table."""
    return [
        r
        for r in api_routes(app)
        if "GET" in (r.methods or ())
        and (r.path or "").startswith("/dashboard/")
        and not (r.path or "").startswith(NOT_PAGES)
    ]


def with_period(path: str) -> str:
    if "period=" in path:
        return path
    return f"{path}{'&' if '?' in path else '?'}period={PERIOD}"


async def check_page(page: Any, url: str, width: int) -> list[str]:
    """What is wrong with the page at `url` at this width (nothing, when all is well)."""
    await page.set_viewport_size({"width": width, "height": 900})
    response = await page.goto(url)
    where = f"{url} at {width} px"
    if response is None or response.status != 200:
        return [f"{where}: answered {response and response.status}"]
    problems = []
    if (over := await page.evaluate(OVERFLOW)) > 0:
        problems.append(f"{where}: scrolls sideways by {over} px")
    problems += [f"{where}: chart text {t}" for t in await page.evaluate(SMALL_TEXT)]
    if width >= 1280:
        problems += [f"{where}: table {t} hides columns" for t in await page.evaluate(WIDE_TABLES)]
    for v in await axe_violations(page):
        targets = [n["target"] for n in v["nodes"]][:3]
        problems.append(f"{where}: axe {v['id']} ({v['impact']}): {v['help']} at {targets}")
    if not urlsplit(url).path.startswith(UUID_CELLS_LEFT_TO):
        cells = await page.evaluate(UUID_CELLS, UUID)
        problems += [f"{where}: a table cell is a bare id {c}" for c in cells[:3]]
    problems += await focus_problems(page, where)
    if width < 641 and "/login" not in url:
        problems += await menu_problems(page, where)
    return problems


async def focus_problems(page: Any, where: str) -> list[str]:
    """A link in the page's content looks different when it has the keyboard's focus."""
    link = page.locator("main a[href]").first
    if not await link.count():
        return []
    before = await link.evaluate(FOCUS_STYLE)
    await link.focus()
    after = await link.evaluate(FOCUS_STYLE)
    await link.evaluate("a => a.blur()")
    return [] if after != before else [f"{where}: focus on a link is not visible"]


async def menu_problems(page: Any, where: str) -> list[str]:
    """On a phone the menu is folded behind a working "Menu" button (GOV.UK Frontend started)."""
    toggle = page.locator(".govuk-service-navigation__toggle")
    menu = page.locator("#navigation")
    if not await toggle.is_visible():
        return [f"{where}: no Menu button"]
    if await menu.is_visible():
        return [f"{where}: the menu is not folded"]
    await toggle.click()
    opened = await menu.is_visible() and await toggle.get_attribute("aria-expanded") == "true"
    await toggle.click()
    return [] if opened else [f"{where}: the Menu button does not open the menu"]


async def test_every_page_reflows_passes_axe_and_shows_names(
    system: System, tmp_path: Path
) -> None:
    await load_dataset(system)
    app = dashboard_app(system, tmp_path)
    routes = page_routes(app)
    plain = [r.path for r in routes if not r.param_convertors]
    with_params = [r for r in routes if r.param_convertors]
    assert "/dashboard/" in plain and with_params  # the table is read, not empty
    async with served(app) as url, browser_page(url) as page:
        await page.goto("/dashboard/login")
        problems = [p for w in WIDTHS for p in await check_page(page, "/dashboard/login", w)]
        await sign_in(page, "manager", USERS["manager"][0])
        queue = [with_period(p + STARTS.get(p, "")) for p in plain if p != "/dashboard/login"]
        queue += [with_period(f"/dashboard/views/{name}") for name in VIEWS]  # the catalogue's
        seen: set[str] = set()
        covered: set[str] = {*plain, "/dashboard/views/{name}"}
        while queue:
            target = queue.pop(0)
            if target in seen:
                continue
            seen.add(target)
            for width in WIDTHS:
                problems += await check_page(page, target, width)
            links = await page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
            for route in with_params:
                found = next((h for h in links if route.path_regex.match(urlsplit(h).path)), None)
                if found and route.path not in covered:
                    covered.add(route.path)
                    parts = urlsplit(found)
                    queue.append(
                        with_period(parts.path + (f"?{parts.query}" if parts.query else ""))
                    )
    missing = sorted({r.path for r in routes} - covered)
    assert missing == [], f"no page links to {missing}: add a link or a start for them"
    assert problems == [], "\n".join(problems)


async def test_the_overview_keeps_a_year_of_millions_whole_on_a_phone(
    system: System, tmp_path: Path
) -> None:
    """The overview's widest figures, a year's income and spend in millions of pounds and pence, at
    320 px: each whole on the screen, one to a row, the page not scrolling sideways (the page
    test's sums are smaller)."""
    await load_dataset(system)
    before = (await system.report()).stamp.applied_events
    grant = await entry(
        system, "coventry", "/income", income(3_027_106_48, received_on="2024-10-01")
    )
    paid = spend(draw((grant, 1_182_947_31)), 1_182_947_31, spent_on="2024-11-01")
    await entry(system, "coventry", "/expenditure", paid)
    await system.report_when(lambda r: r.stamp.applied_events >= before + 2, timeout=30)
    async with served(dashboard_app(system, tmp_path)) as url, browser_page(url) as page:
        await sign_in(page, "manager", USERS["manager"][0])
        problems = await check_page(page, f"/dashboard/?period={PERIOD}", 320)
        figures = await page.eval_on_selector_all(
            ".hl-figures .hl-figure", "els => els.map(e => e.innerText.trim())"
        )
    money = [f.split()[0] for f in figures if f.startswith("£")]
    assert len(money) == 2 and all(re.fullmatch(r"£\d,\d{3},\d{3}\.\d{2}", m) for m in money)
    assert problems == [], "\n".join(problems)
