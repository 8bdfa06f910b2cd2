"""The auditor's pages: a grant's trail as a table linked to its entries' and activities' events,
downloadable; each event's own page (payload, producer, times, signature) linked from every
figure-trace row; from a grant to an activity's pupils and back by links alone."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from hub.runner import Wiring
from services.reporting.settings import ReportingSettings
from shared.nats_server import NatsServer
from shared.settings import HubSettings
from shared.signing import NodeSigner
from tests.dashboard_helpers import PERIOD, dashboard_app, signed_in, text_of
from tests.helpers import System, income
from tests.test_funding import draw, entry
from tests.test_reporting_views import A, B, C, D, load_dataset

EVENT_LINK = re.compile(r'href="(/dashboard/events/[0-9a-f-]{36})\?[^"]*"')
WRITTEN_DATE = r"\d{1,2} [A-Z][a-z]+ \d{4}"
"""A date as the pages write it: 1 October 2024."""


@pytest.fixture
async def signed(settings: HubSettings, nats_server: NatsServer) -> AsyncIterator[System]:
    """A hub whose nodes sign what they publish and whose reporting holds their public keys."""
    signers = {node: NodeSigner.generate() for node in settings.nodes}
    keys = settings.data_dir / "node-keys.json"
    keys.write_text(json.dumps({n: s.public_key for n, s in signers.items()}))
    wiring = Wiring(
        nats_server.url,
        {node: nats_server.url for node in settings.nodes},
        signers,
        ReportingSettings(node_keys_file=keys),
    )
    running = System(settings, nats_server.url, wiring)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def links(html: str) -> list[str]:
    return EVENT_LINK.findall(html)


async def test_a_grant_trail_is_a_linked_table_said_to_reconcile_once_and_downloads(
    signed: System, tmp_path: Path
) -> None:
    ids = await load_dataset(signed)
    app = dashboard_app(signed, tmp_path)
    grant = f"/dashboard/trace/grant/coventry/{ids['dfe_cov']}?period={PERIOD}"
    async with signed_in(app, "auditor") as client:
        html = (await client.get(grant)).text
        page = text_of(html)
        # Coventry's £1,000 DfE income: £100 of it funds the £300 strings commission
        assert page.lower().count("reconciles") == 1, page
        assert "1 Income" in page and "1.1 Commission" in page
        assert "Orchestra of the Swan" in page and "£1,000.00" in page and "£900.00" in page
        assert "£100.00 of it from step 1" in page
        assert 'class="govuk-table__row hl-problem"' not in html
        entry_links = links(html)
        assert len(entry_links) >= 3  # the grant, its commission, and the activity it paid for

        # The grant's own entry: its event's page, verified against the node's key.
        event = text_of((await client.get(entry_links[0] + f"?period={PERIOD}")).text)
        assert "IncomeRecorded" in event and "Verified" in event and "funding service" in event

        # The activity the commission paid for, its pupils, and back to the grant by links alone.
        activity_html = (await client.get(entry_links[-1] + f"?period={PERIOD}")).text
        assert "ActivityDelivered" in text_of(activity_html)
        assert f"/dashboard/trace/grant/coventry/{ids['dfe_cov']}?" in activity_html
        assert "Arts Council England (Coventry)" in text_of(activity_html)  # named, not GB-CHC-…
        pupils = [u for u in links(activity_html) if u != entry_links[-1]]
        assert pupils
        participation_html = (await client.get(pupils[0] + f"?period={PERIOD}")).text
        assert '<th scope="col" class="govuk-table__header">Pseudonym</th>' in participation_html
        participation = text_of(participation_html)  # its pupils as a table, one row each
        assert "ParticipationRecorded" in participation and "Pseudonym" in participation
        assert not [upn for upn in (A, B, C, D) if upn in participation]
        assert "103690 (Canley Primary)" in participation  # the school named beside its URN

        download = (
            f"/dashboard/download/trail.csv?period={PERIOD}&node=coventry&entry={ids['dfe_cov']}"
        )
        r = await client.get(download)
        assert r.status_code == 200, r.text
        header, *rows = list(csv.reader(io.StringIO(r.text)))
        assert header[:7] == ["Grant", "Step", "Date", "Kind", "From", "To", "Amount (£)"]
        steps = {row[1]: dict(zip(header, row, strict=True)) for row in rows}
        assert steps["1"]["Amount (£)"] == "1000.00" and steps["1"]["Remaining (£)"] == "900.00"
        assert (
            steps["1.1"]["Kind"] == "Commission" and steps["1.1"]["To"] == "Orchestra of the Swan"
        )
        xlsx = await client.get(download.replace("trail.csv", "trail.xlsx"))
        book = load_workbook(io.BytesIO(xlsx.content))
        assert book.sheetnames == ["Grants", "Trail"]
        assert [c.value for c in book["Grants"][2]][4:] == ["Yes", 0]
        everything = await client.get(f"/dashboard/download/trail.csv?period={PERIOD}")
        grants = {row[0] for row in list(csv.reader(io.StringIO(everything.text)))[1:]}
        assert everything.status_code == 200 and len(grants) >= 2  # every grant of the year
        missing = f"/dashboard/download/trail.csv?period={PERIOD}&node=coventry&entry=nope"
        assert (await client.get(missing)).status_code == 404

    async with signed_in(app, "coventry-staff") as client:  # Solihull's grant is not theirs
        other = f"/dashboard/trace/grant/solihull/{ids['dfe_sol']}?period={PERIOD}"
        assert (await client.get(other)).status_code == 403
        assert (await client.get(entry_links[0])).status_code == 200  # Coventry's own entry


async def test_every_trace_row_links_to_its_event_dated_when_it_was_delivered(
    signed: System, tmp_path: Path
) -> None:
    await load_dataset(signed)
    app = dashboard_app(signed, tmp_path)
    async with signed_in(app, "auditor") as client:
        html = (await client.get(f"/dashboard/trace?view=pupils&key=hub&period={PERIOD}")).text
        rows = re.findall(r"<tr class=\"govuk-table__row\">.*?</tr>", html, re.S)[1:]
        assert rows and all(links(row) for row in rows)  # every row links to its event
        # Occurred: the activities' delivery dates (2024-25), not the day the sample was loaded.
        dates = {d for row in rows for d in re.findall(WRITTEN_DATE, text_of(row))}
        when = {datetime.strptime(d, "%d %B %Y").date().isoformat() for d in dates}
        assert when and all("2024-09-01" <= d <= "2025-08-31" for d in when), dates
        event = (await client.get(links(rows[0])[0])).text
        assert "Verified" in text_of(event) and 'id="event-signature"' in event
        spend = (await client.get(f"/dashboard/trace?view=spend&key=hub&period={PERIOD}")).text
        rows = re.findall(r"<tr class=\"govuk-table__row\">.*?</tr>", spend, re.S)[1:]
        dated = [re.findall(WRITTEN_DATE, text_of(row)) for row in rows]
        assert "1 October 2024" in {d for ds in dated for d in ds}  # the commission's own date


async def test_an_event_page_without_node_keys_says_the_signature_was_not_checked(
    system: System, tmp_path: Path
) -> None:
    ids = await load_dataset(system)
    app = dashboard_app(system, tmp_path)
    async with signed_in(app, "manager") as client:
        html = (await client.get(f"/dashboard/trace/grant/coventry/{ids['dfe_cov']}")).text
        event = text_of((await client.get(links(html)[0])).text)
        assert "Not checked" in event and "no node keys" in event
        unknown = "/dashboard/events/01a2011f-0000-7000-8000-00000000dead"
        assert (await client.get(unknown)).status_code == 404


async def test_a_transfer_never_received_is_the_trail_s_one_highlighted_problem(
    system: System, tmp_path: Path
) -> None:
    grant = await entry(system, "solihull", "/income", income(1_000_00, received_on="2024-09-02"))
    await entry(
        system,
        "solihull",
        "/allocations",
        {
            "to_node": "coventry",
            "stream": "revenue",
            "amount_pence": 400_00,
            "allocated_on": "2024-09-15",
            "funded_from": draw((grant, 400_00)),
        },
    )  # Coventry never records receiving it
    await system.report_when(lambda r: r.stamp.applied_events >= 2)
    app = dashboard_app(system, tmp_path)
    async with signed_in(app, "auditor") as client:
        html = (await client.get(f"/dashboard/trace/grant/solihull/{grant}")).text
        page = text_of(html)
        assert "1 step of this trail does not reconcile" in page
        assert html.count('class="govuk-table__row hl-problem"') == 1
        assert "not received" in page and "reconciles" not in page.lower().replace(
            "does not reconcile", ""
        )
        r = await client.get(f"/dashboard/download/trail.csv?node=solihull&entry={grant}")
        steps = {row[1]: row for row in list(csv.reader(io.StringIO(r.text)))[1:]}
        assert steps["1.1"][10] == "Not received" and steps["1"][10] == "OK"


def test_an_event_page_shows_ids_whole_and_no_upn() -> None:
    """The event page lays out a payload with anything UPN-shaped removed (shared.http), but an id
    whose last group happens to be all digits is shown whole."""
    from services.reporting.dashboard.auditing import _clean
    from shared.pseudonym import make_upn

    entry = "0193a4f2-7c3e-7d11-9b2a-123456789012"
    upn = make_upn("330200612345")
    shown = _clean({"entry_id": entry, "notes": [f"pupil {upn}", f"{upn[1:]}"], "n": 3})
    assert shown == {"entry_id": entry, "notes": ["pupil [removed]", "[removed]"], "n": 3}
