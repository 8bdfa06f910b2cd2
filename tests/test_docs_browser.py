"""Every service's `/docs` renders its operations in headless chromium with the network cut off
(anything but the service itself refused) and no Content-Security-Policy violation: Swagger UI is
served from the repository, started by a static script (shared/http.py)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI

from shared.identity import SERVICES
from services.reporting.app import create_app as reporting_app
from services.reporting.dashboard.browser import browser_page
from tests.helpers import System
from tests.test_dashboard_browser import chromium, served  # noqa: F401  (skips without chromium)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def service_apps(system: System) -> dict[str, FastAPI]:
    apps = {name: system._apps[("coventry", name)] for name in SERVICES}
    return {**apps, "reporting": reporting_app(system.reporting)}


def operations(app: FastAPI) -> set[str]:
    return {f"{method.upper()} {path}" for path, methods in app.openapi()["paths"].items() for method in methods}


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
