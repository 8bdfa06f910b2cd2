"""Screenshots of the main dashboard pages (docs/dashboard/*.png), taken from a running hub
(`hub demo`) in headless chromium: `hub dashboard screenshots --password …`."""

from __future__ import annotations

from pathlib import Path

from harness.browser import browser_page, sign_in

PAGES = {
    "overview": "/dashboard/",
    "funding": "/dashboard/funding",
    "reach": "/dashboard/views/reach?period={pupils}",
    "progression": "/dashboard/views/progression?period={pupils}",
    "inclusion": "/dashboard/views/inclusion?period={pupils}",
    "area": "/dashboard/areas/coventry?period={pupils}",
    "partner": "/dashboard/partners",
    "trace": "/dashboard/trace?view=income&key=hub&period={money}",
    "grant": "/dashboard/funding?period={money}",
    "audit": "/dashboard/audit",
}
"""The sample hub records delivery up to 2024-25 and money for 2025-26: each page shows its own
year (the overview and funding pages open on the latest year with their data by themselves)."""
PHONE = {"overview-phone": "/dashboard/"}
"""Pages also shown at 320 px wide, as a phone shows them (filters folded, the Menu button)."""
FOLLOW = {"grant": "/dashboard/trace/grant/", "partner": "/dashboard/partners/"}
PREFER = {"partner": "Coventry Music"}
"""The sample's partner with the most delivery, shown when present (else the first listed)."""


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
                links = page.locator(f"a[href*='{follow}']")
                preferred = links.filter(has_text=PREFER.get(name, "\0"))
                chosen = preferred if await preferred.count() else links
                await page.goto(await chosen.first.get_attribute("href"))
            path = out / f"{name}.png"
            await page.screenshot(path=str(path), full_page=True)
            written.append(path)
        await page.set_viewport_size({"width": 320, "height": 640})
        for name, url in PHONE.items():
            await page.goto(url)
            path = out / f"{name}.png"
            await page.screenshot(path=str(path))
            written.append(path)
    return written
