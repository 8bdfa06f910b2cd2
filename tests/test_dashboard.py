"""The dashboard's pages over the fixed dataset of test_reporting_views: figures as the views give
them, filters in the URL, traces that add up, downloads, and each role's scope enforced."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
from openpyxl import load_workbook

from services.reporting.dashboard import dashboard_pages
from tests.dashboard_helpers import PERIOD, dashboard_app, signed_in, text_of
from tests.helpers import System
from tests.test_reporting_views import load_dataset


async def test_every_page_renders_for_a_manager(system: System, tmp_path: Path) -> None:
    await load_dataset(system)
    app = dashboard_app(system, tmp_path)
    async with signed_in(app, "manager") as client:
        for url in dashboard_pages(PERIOD):
            r = await client.get(url)
            assert r.status_code == 200, (url, r.text[-2000:])
        print(text_of((await client.get(f"/dashboard/?period={PERIOD}")).text)[:3000])
