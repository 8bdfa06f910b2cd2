"""Headless Debian chromium driven by Playwright, for the screenshots and the end-to-end tests.
Playwright's own browser download does not work on closed networks; Debian's chromium does."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Without the background-networking flags chromium keeps calling home on a closed network."""


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
"""axe-core as vendored from the npm registry (`make assets`, harness/assets.py), pinned."""
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


async def axe_violations(page: Any, tags: list[str] = WCAG_AA) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it stands, for the rules of `tags`."""
    from axe_playwright_python.async_playwright import (  # type: ignore[import-untyped]
        Axe,  # the wrapper ships no type hints; it only runs the vendored script
    )

    results = await Axe.from_file(AXE).run(
        page, options={"runOnly": {"type": "tag", "values": tags}}
    )
    return list(results.response["violations"])


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@asynccontextmanager
async def browser_page(base_url: str, downloads: Path | None = None) -> AsyncIterator[Any]:
    """A fresh page in a fresh headless chromium, at a laptop-sized viewport."""
    from playwright.async_api import async_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium not found: apt-get install -y chromium")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(
                base_url=base_url,
                viewport={"width": 1280, "height": 900},
                accept_downloads=downloads is not None,
            )
            yield await context.new_page()
        finally:
            await browser.close()


async def sign_in(page: Any, name: str, password: str) -> None:
    await page.goto("/dashboard/login")
    await page.fill("#username", name)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/dashboard/")
