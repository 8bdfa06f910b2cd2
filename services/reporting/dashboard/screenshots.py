"""Screenshots of the main dashboard pages (docs/dashboard/*.png), taken from a running hub
(`hub demo`) in headless chromium: `hub dashboard screenshots --password …`."""

from __future__ import annotations

from pathlib import Path

from services.reporting.dashboard.browser import browser_page, sign_in

PAGES = {
    "overview": "/dashboard/?period={period}",
    "funding": "/dashboard/funding?period={period}",
    "reach": "/dashboard/views/reach?period={period}",
    "progression": "/dashboard/views/progression?period={period}",
    "inclusion": "/dashboard/views/inclusion?period={period}",
    "area": "/dashboard/areas/coventry?period={period}",
    "trace": "/dashboard/trace?view=income&key=hub&period={period}",
    "audit": "/dashboard/audit",
}


async def take_screenshots(base_url: str, user: str, password: str, period: str, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    async with browser_page(base_url) as page:
        await sign_in(page, user, password)
        for name, url in PAGES.items():
            await page.goto(url.format(period=period))
            path = out / f"{name}.png"
            await page.screenshot(path=str(path), full_page=True)
            written.append(path)
    return written
