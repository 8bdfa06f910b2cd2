"""Screenshots of the main dashboard pages (docs/dashboard/*.png), taken from a running hub
(`hub demo`) in headless chromium: `hub dashboard screenshots --password …`."""

from __future__ import annotations

from pathlib import Path

from harness.browser import browser_page, sign_in

PAGES = {
    "overview": "/dashboard/?period={pupils}",
    "funding": "/dashboard/funding?period={money}",
    "reach": "/dashboard/views/reach?period={pupils}",
    "progression": "/dashboard/views/progression?period={pupils}",
    "inclusion": "/dashboard/views/inclusion?period={pupils}",
    "area": "/dashboard/areas/coventry?period={pupils}",
    "partner": "/dashboard/partners",
    "trace": "/dashboard/trace?view=income&key=hub&period={money}",
    "grant": "/dashboard/funding?period={money}",
    "audit": "/dashboard/audit",
}
"""The sample hub records delivery up to 2024-25 and money for 2025-26:
each page shows its own year."""
FOLLOW = {"grant": "/dashboard/trace/grant/", "partner": "/dashboard/partners/"}


async def take_screenshots(
    base_url: str, user: str, password: str, pupils: str, money: str, out: Path
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    async with browser_page(base_url) as page:
        await sign_in(page, user, password)
        for name, url in PAGES.items():
            await page.goto(url.format(pupils=pupils, money=money))
            follow = FOLLOW.get(name)
            if follow:  # the first grant's trail, the first partner's page
                await page.goto(
                    await page.locator(f"a[href*='{follow}']").first.get_attribute("href")
                )
            path = out / f"{name}.png"
            await page.screenshot(path=str(path), full_page=True)
            written.append(path)
    return written
