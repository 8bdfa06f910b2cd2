"""In headless chromium, under the Content-Security-Policy every response carries (shared/http.py):
every service's `/docs` renders its operations with the network cut off (anything but the service
itself refused), Swagger UI being served from the repository and started by a static script; and
the dashboard's pages run their JavaScript (GOV.UK Frontend started) with no violation."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI

from harness.browser import browser_page, sign_in
from services.reporting.app import create_app as reporting_app
from shared.identity import SERVICES
from tests.dashboard_helpers import PERIOD, USERS, dashboard_app
from tests.helpers import System
from tests.test_dashboard_browser import served

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def service_apps(system: System) -> dict[str, FastAPI]:
    apps = {name: system._apps[("coventry", name)] for name in SERVICES}
    return {**apps, "reporting": reporting_app(system.reporting)}


def operations(app: FastAPI) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, methods in app.openapi()["paths"].items()
        for method in methods
    }


SHOWN = """[...document.querySelectorAll('.opblock-summary')].map(s =>
    s.querySelector('.opblock-summary-method').textContent + ' ' +
    s.querySelector('.opblock-summary-path').dataset.path)"""
"""The operations Swagger UI drew (one listed under several tags is drawn under each)."""


async def test_every_service_docs_page_renders_offline(system: System, tmp_path: Path) -> None:
    rendered, outside, problems = {}, [], []
    for name, app in service_apps(system).items():
        async with served(app) as url, browser_page(url) as page:

            async def only_here(route, request) -> None:  # type: ignore[no-untyped-def]
                if urlsplit(request.url).hostname in ("127.0.0.1", "localhost"):
                    await route.continue_()
                else:
                    outside.append(request.url)
                    await route.abort()

            await page.route("**/*", only_here)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            await page.goto("/docs")
            await page.wait_for_selector(".opblock-summary")
            await page.wait_for_load_state("networkidle")
            rendered[name] = set(await page.evaluate(SHOWN))
            title = await page.locator(".info .title").inner_text()
            assert app.title in title
        assert rendered[name] == operations(app), name
    assert set(rendered) == {*SERVICES, "reporting"}
    assert outside == [] and problems == []


async def test_dashboard_pages_run_their_scripts_under_the_policy(
    system: System, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with served(dashboard_app(system, tmp_path)) as url, browser_page(url) as page:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await sign_in(page, "manager", USERS["manager"][0])
        started = []
        for path in (
            "/dashboard/",
            "/dashboard/views/reach",
            "/dashboard/funding",
            "/dashboard/audit",
        ):
            await page.goto(f"{path}?period={PERIOD}")
            await page.wait_for_selector(
                "[data-govuk-skip-link-init]"
            )  # dashboard.js started GOV.UK Frontend
            started.append(
                await page.evaluate("document.body.classList.contains('govuk-frontend-supported')")
            )
        csp = (await page.request.get("/dashboard/")).headers["content-security-policy"]
    assert started == [True] * 4
    assert "script-src 'self'" in csp and errors == []
