"""End to end in headless Debian chromium (Playwright): sign in, load the overview, change a filter,
follow a figure to its events, download an export, keyboard access, and axe-core (WCAG 2.2 AA
rules) finding no serious or critical violation on the main pages.

Skipped when chromium is missing, unless HUB_REQUIRE_BROWSER=1 (CI: `make browser` installs it)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from openpyxl import load_workbook

from harness.browser import axe_violations, browser_page, sign_in
from tests.dashboard_helpers import PERIOD, USERS, dashboard_app
from tests.helpers import System
from tests.test_reporting_views import load_dataset

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app on a real loopback port (the browser needs one); the service is already started."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def serious_violations(page: Any) -> list[str]:
    """Serious and critical ones here; tests/test_dashboard_pages.py asks for none at all."""
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} at "
        f"{[n['target'] for n in v['nodes']][:3]}"
        for v in await axe_violations(page)
        if v["impact"] in ("serious", "critical")
    ]


async def test_manager_filters_traces_downloads_and_pages_pass_axe(
    system: System, tmp_path: Path
) -> None:
    ids = await load_dataset(system)
    async with (
        served(dashboard_app(system, tmp_path)) as url,
        browser_page(url, downloads=tmp_path) as page,
    ):
        await page.goto("/dashboard/")
        assert "/dashboard/login" in page.url  # signed out: sent to sign in
        problems = await serious_violations(page)
        await sign_in(page, "manager", USERS["manager"][0])

        await page.goto(f"/dashboard/?period={PERIOD}")
        assert (await page.locator(".hl-figure a").first.inner_text()).startswith("3")  # A, B and D
        problems += await serious_violations(page)

        await page.select_option("#f-area", "coventry")  # pupils living in Coventry: A and B
        await page.click("button.hl-apply")
        await page.wait_for_url("**area=coventry**")
        figure = page.locator(".hl-figure a").first
        assert (await figure.inner_text()).startswith("2")

        await figure.click()  # the figure's events
        await page.wait_for_url("**/dashboard/trace?**")
        assert "2 unique pupils" in await page.locator("#trace-figure").inner_text()
        assert await page.locator("table.hl-table tbody tr").count() >= 2
        problems += await serious_violations(page)
        await page.locator("table.hl-table tbody tr a").first.click()  # a row's event
        await page.wait_for_url("**/dashboard/events/**")
        assert "ParticipationRecorded" in await page.locator("h1").inner_text()
        problems += await serious_violations(page)

        await page.goto(f"/dashboard/views/funding?period={PERIOD}")
        problems += await serious_violations(page)
        async with page.expect_download() as info:
            await page.get_by_role(
                "link", name="funding as a spreadsheet (XLSX, a sheet per table)"
            ).click()
        saved = tmp_path / (await info.value).suggested_filename
        await (await info.value).save_as(saved)
        assert {"Summary", "Budget"} <= set(load_workbook(saved).sheetnames)

        for path in (
            "/dashboard/funding",
            "/dashboard/views/progression",
            "/dashboard/views/inclusion",
            "/dashboard/areas/coventry",
            "/dashboard/audit",
            f"/dashboard/trace/grant/coventry/{ids['dfe_cov']}",
        ):
            await page.goto(f"{path}?period={PERIOD}")
            problems += await serious_violations(page)
        assert problems == []


async def test_keyboard_reaches_skip_link_filters_and_figures(
    system: System, tmp_path: Path
) -> None:
    await load_dataset(system)
    async with served(dashboard_app(system, tmp_path)) as url, browser_page(url) as page:
        await sign_in(page, "manager", USERS["manager"][0])
        await page.goto(f"/dashboard/?period={PERIOD}")
        await page.keyboard.press("Tab")
        assert (
            await page.evaluate("document.activeElement.textContent.trim()")
            == "Skip to main content"
        )
        await page.keyboard.press("Enter")
        focused = []
        for _ in range(40):
            await page.keyboard.press("Tab")
            focused.append(
                await page.evaluate("document.activeElement.id || document.activeElement.className")
            )
        assert "f-period" in focused and "f-area" in focused
        assert any("govuk-link" in f for f in focused)
