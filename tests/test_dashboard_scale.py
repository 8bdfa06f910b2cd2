"""Pages of a large hub stay readable: a trace shows its events a page at a time with every event
in its JSON download; a long table shows its first rows and says where the rest are."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from harness.bench_events import event_mix
from services.reporting.app import build_service, create_app
from services.reporting.dashboard.routes import EVENTS_PER_PAGE
from services.reporting.ingest.apply import Incoming
from services.reporting.settings import ReportingSettings
from shared.settings import HubSettings

NODES = ["coventry", "warwickshire", "solihull"]
PERIOD = "2024-25"


async def test_a_long_trace_is_paged_and_downloadable_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.reporting.dashboard import routes

    monkeypatch.setattr(routes, "GRANTS_PER_PAGE", 10)
    settings = HubSettings(hub="scale", data_dir=tmp_path, nodes=NODES)
    service = build_service(settings, "", ReportingSettings(warm_after_seconds=0))
    await service.start(consume=False)
    events = [
        Incoming(e.subject, e.body, i + 1)
        for i, e in enumerate(event_mix("scale", NODES, 1200, seed=5))
    ]
    await service.ingest(events)
    app = create_app(service)  # no users file, no API tokens: the open development dashboard
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://reporting"
        ) as client:
            query = f"view=pupils&key=hub&period={PERIOD}"
            whole = (await client.get(f"/dashboard/download/trace.json?{query}")).json()
            total = len(whole["events"])
            assert total > EVENTS_PER_PAGE and whole["figure"] == whole["distinct"]
            pages = -(-total // EVENTS_PER_PAGE)

            first = (await client.get(f"/dashboard/trace?{query}")).text
            assert _event_rows(first) == [e["event_id"] for e in whole["events"][:EVENTS_PER_PAGE]]
            assert f"Page 1 of {pages}" in first and 'rel="next"' in first
            last = (await client.get(f"/dashboard/trace?{query}&page={pages}")).text
            assert _event_rows(last) == [
                e["event_id"] for e in whole["events"][(pages - 1) * EVENTS_PER_PAGE :]
            ]
            assert 'rel="prev"' in last and 'rel="next"' not in last

            schools = (await client.get(f"/dashboard/views/schools?period={PERIOD}")).text
            urns = json.loads(
                (await client.get(f"/dashboard/download/schools.json?period={PERIOD}")).text
            )["engaged_urns"]
            assert len(urns) > 200
            assert f"The first 200 of {len(urns):,} rows" in schools
            assert urns[199] in schools and urns[-1] not in schools

            funding = (await client.get(f"/dashboard/funding?period={PERIOD}")).text
            count = int(
                re.search(r"([\d,]+) income entries received in", funding).group(1).replace(",", "")
            )
            assert count > 10 and f"Page 1 of {-(-count // 10)}" in funding
            assert len(re.findall(r'href="/dashboard/trace/grant/', funding)) == 10
    finally:
        await service.stop()


def _event_rows(page: str) -> list[str]:
    return re.findall(r"<a class=\"govuk-link\" href=\"/dashboard/events/([0-9a-f-]{36})\?", page)
