"""A partner return's question pages (issue 27, docs/partner-returns.md): one thing per page, a
school found by name or URN in the node's settings register (asked of the node's partners service
with its read-only service token), WCET and CPD given counted at the hub once staff accept, and a
school invited by URN taking its return end to end like a partner."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from services.activities import web_returns as wr
from services.activities.app import use_partners_at
from services.reporting.read.catalogue import AnnualReturn, annual_return
from services.reporting.read.params import ViewParams
from services.reporting.read.views.activities import ReturnRow, partner_returns
from shared.nats_server import NatsServer, free_port
from tests.dashboard_helpers import dashboard_app, signed_in
from tests.guarded_helpers import (
    OTHER,
    OWN,
    STAFF,
    add_schools,
    guarded_settings,
    started,
    with_service_tokens,
)
from tests.helpers import System, wait_for
from tests.test_partner_returns import YEAR, browser, invite, opened

DUE = (date.today() + timedelta(days=30)).isoformat()


@pytest.fixture
async def hub(
    tmp_path: Path, hub_id: str, nats_server: NatsServer
) -> AsyncIterator[tuple[System, dict[str, str]]]:
    """Coventry and Solihull with tokens required; Coventry's register has three schools and its
    activities service reaches its partners app (in this process) with the service token."""
    tokens = with_service_tokens(tmp_path)
    system = System(
        guarded_settings(tmp_path, hub_id), nats_server.url, tokens={OWN: tokens[STAFF]}
    )
    partners = httpx.ASGITransport(app=system._apps[(OWN, "partners")])
    use_partners_at(system._apps[(OWN, "activities")], "http://coventry-partners", partners)
    async with started(system):
        await add_schools(system)
        yield system, tokens


async def test_the_service_token_reads_its_own_nodes_register_and_writes_nothing(
    hub: tuple[System, dict[str, str]],
) -> None:
    system, tokens = hub
    for node, wanted in ((OWN, 200), (OTHER, 403)):
        async with system.client(node, "partners") as client:
            client.headers["Authorization"] = f"Bearer {tokens[f'{OWN}-service']}"
            found = await client.get("/settings", params={"q": "stoke"})
            assert found.status_code == wanted, found.text
            written = await client.post("/settings", json={"urn": "100000"})
            assert written.status_code == 403, written.text
    async with system.client(OWN, "partners") as client:
        names = [s["name"] for s in (await client.get("/settings?q=STOKE")).json()]
        assert names == ["Stoke Heath Primary School", "Stoke Park Primary School"]
        assert [s["name"] for s in (await client.get("/settings?q=103801")).json()] == [
            "Whitley Academy"
        ]


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, f"{pattern} not in {text[:2000]}"
    return match.group(1)


async def steps(client: httpx.AsyncClient, start: str, csrf: str, *pages: dict[str, str]) -> str:
    """Answer each page of a group in turn, following where each sends us; the last location."""
    location = start
    for answers in pages:
        page = await client.get(location)
        assert page.status_code == 200, page.text
        action = found(r'<form method="post" action="([^"]+)"', page.text)
        carried = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text)
        data: dict[str, list[str]] = {"csrf": [csrf]}
        for key, value in [(k, v) for k, v in carried if k != "csrf"] + list(answers.items()):
            data.setdefault(key, []).append(value)
        r = await client.post(action, data=data)
        assert r.status_code == 303, f"{action}: {r.status_code} {r.text[:2000]}"
        location = r.headers["location"]
    return location


async def test_a_school_is_found_by_name_and_wcet_and_cpd_are_counted_at_the_hub(
    hub: tuple[System, dict[str, str]],
) -> None:
    system, _ = hub
    service = system.services[(OWN, "activities")]
    link = await invite(system, "Canal Side Strings")
    async with browser(system) as client:
        csrf = await opened(client, link)
        first = (await client.get("/return/wcet/new")).headers["location"]
        found = await client.get(first, params={"q": "stoke park"})
        assert "Stoke Park Primary School" in found.text and "Whitley" not in found.text
        assert 'type="radio" value="103712"' in found.text
        nothing = await client.get(first, params={"q": "Nowhere"})
        assert "No school or setting in the register matches" in nothing.text

        bad = await client.post(
            "/return/wcet/new/class", data={"csrf": csrf, "setting_urn": "103712"}
        )
        assert bad.status_code == 400 and "Enter the instrument the class learned" in bad.text
        class_ = {"csrf": csrf, "setting_urn": "103712", "instrument": "ukulele"}
        year_14 = await client.post("/return/wcet/new/class", data={**class_, "year_groups": "14"})
        assert "Give year groups as R (reception) or 1 to 13" in year_14.text
        done = await steps(
            client,
            first,
            csrf,
            {"setting_urn": "103712"},
            {"instrument": "ukulele", "year_groups": "4"},
            {"starts_on": "2024-09-09", "ends_on": "2025-07-18", "weeks": "33", "hours": "33"},
            {"pupils": "28"},
        )
        assert done == "/return/"
        before = await client.get("/return/wcet/new/when", params={"starts_on": "2025-09-01"})
        assert before.status_code == 200
        late = await client.post(
            "/return/wcet/new/when",
            data={"csrf": csrf, "setting_urn": "103712", "instrument": "ukulele",
                  "year_groups": "4", "starts_on": "2025-09-01", "ends_on": "2025-12-01",
                  "weeks": "12", "hours": "12"},
        )  # fmt: skip
        assert late.status_code == 400 and "This return is for 2024-25" in late.text

        cpd = (await client.get("/return/cpd/new")).headers["location"]
        await steps(
            client,
            cpd,
            csrf,
            {"title": "Teaching ukulele to a class", "starts_on": "2024-10-14",
             "ends_on": "2025-02-03"},
            {"sessions": "3", "hours": "6", "attendees": "11"},
            {"schools": "103712", "schools_typed": "103745, 103801"},
        )  # fmt: skip
        check = (await client.get("/return/check")).text
        assert "Ukulele, year 4, at URN 103712" in check and "3 sessions, 6 hours, 11" in check
        assert "103712, 103745, 103801" in check
        assert (await client.post("/return/submit", data={"csrf": csrf})).status_code == 303

    row = await wr.get_web_return(link.web_return_id, service.unit_of_work())
    assert row.answers["wcet"][0]["year_groups"] == ["4"]  # kept at the node, for review
    await wr.accept(link.web_return_id, OWN, service.unit_of_work, system._apps[
        (OWN, "activities")].state.pseudonymiser)  # fmt: skip

    async def annual() -> AnnualReturn:
        async with system.reporting.read_sessions() as session:
            params = ViewParams(period=YEAR, hub=system.settings.hub, nodes=[OWN, OTHER])
            return await annual_return(session, params)

    figures = await wait_for(
        annual, lambda a: {k.kind for k in a.delivery_by_kind} >= {"wcet", "cpd"}, 30
    )
    kinds = {k.kind: k for k in figures.delivery_by_kind}
    assert (kinds["wcet"].headcount, kinds["wcet"].hours) == (28, Decimal(33))
    assert (kinds["cpd"].headcount, kinds["cpd"].hours) == (11, Decimal(6))
    assert figures.whole_class_ensemble_teaching.schools == 1
    assert figures.wcet_terms == ["autumn 2024"]


async def test_a_school_invited_by_urn_takes_its_return_like_a_partner(
    hub: tuple[System, dict[str, str]],
) -> None:
    system, _ = hub
    async with system.client(OWN, "activities") as staff:
        invite_form = {"school_urn": "103801", "academic_year": YEAR, "due_on": DUE}
        unknown = await staff.post(
            "/staff/returns/invite", data={**invite_form, "school_urn": "999999"}
        )
        assert unknown.status_code == 400 and "No school with this URN" in unknown.text
        made = await staff.post("/staff/returns/invite", data=invite_form)
        assert made.status_code == 200, made.text
        url = found(r'<code id="invitation-link">([^<]+)</code>', made.text)
    token = url.rsplit("/", 1)[1]
    async with browser(system) as client:
        start = await client.get(f"/return/start/{token}")
        assert "For Whitley Academy" in start.text
        r = await client.post(f"/return/start/{token}")
        csrf = found(r'name="csrf" value="([0-9a-f]+)"', (await client.get("/return/check")).text)
        await steps(
            client,
            (await client.get("/return/activities/new")).headers["location"],
            csrf,
            {"kind": "ensemble"},
            {"setting_urn": "103801"},
            {"title": "School choir", "starts_on": "2024-09-12", "ends_on": "2025-07-10",
             "hours": "35"},
            {"headcount": "24"},
            {"functions": "progression", "level": "beginner"},
        )  # fmt: skip
        assert r.status_code == 303
        assert (await client.post("/return/submit", data={"csrf": csrf})).status_code == 303
    async with system.client(OWN, "activities") as staff:
        assert "submitted" in (await staff.get("/staff/returns")).text
        web_return_id = found(r"/staff/returns/([0-9a-f-]{36})", made.text)
        accepted = await staff.post(f"/staff/returns/{web_return_id}/accept")
        assert accepted.status_code == 303, accepted.text
    async with system.client(OWN, "partners") as partners:
        school_id = (await partners.get("/settings?q=103801")).json()[0]["organisation_id"]

    async def received() -> list[ReturnRow]:
        async with system.reporting.read_sessions() as session:
            return list(await partner_returns(session, YEAR, date.today()))

    lines = await wait_for(received, lambda rs: any(r.submitted_on for r in rs), 30)
    (school,) = [r for r in lines if r.partner_id == school_id]
    assert school.status == "received"
    report = await system.report()
    assert next(n.activities for n in report.nodes if n.node == OWN) == 1


async def test_without_the_register_a_urn_can_still_be_given(
    hub: tuple[System, dict[str, str]],
) -> None:
    system, _ = hub
    use_partners_at(system._apps[(OWN, "activities")], f"http://127.0.0.1:{free_port()}")
    link = await invite(system, "Offline Music")
    async with browser(system) as client:
        csrf = await opened(client, link)
        page = await client.get("/return/wcet/new/school", params={"q": "stoke"})
        assert "cannot be searched just now" in page.text and 'id="setting_urn"' in page.text
        nothing = await client.post("/return/wcet/new/school", data={"csrf": csrf})
        assert nothing.status_code == 400 and "Choose the school, or give its URN" in nothing.text
        typed = await client.post(
            "/return/wcet/new/school", data={"csrf": csrf, "setting_urn": "103712"}
        )
        assert typed.status_code == 303 and "setting_urn=103712" in typed.headers["location"]


async def test_node_staff_reach_their_returns_page_from_the_dashboard(
    system: System, tmp_path: Path
) -> None:
    """Returns are node data, reviewed at the node: the dashboard links its staff there."""
    url = "https://coventry.example/staff/returns"
    system.reporting.own = system.reporting.own.model_copy(update={"node_returns_urls": {OWN: url}})
    app = dashboard_app(system, tmp_path)
    async with signed_in(app, "coventry-staff") as client:
        page = (await client.get("/dashboard/partners")).text
        assert f'<a class="govuk-link" href="{url}">Coventry’s partner returns page</a>' in page
    async with signed_in(app, "manager") as client:
        assert "partner-returns-link" not in (await client.get("/dashboard/partners")).text


async def test_the_partners_pages_speak_plainly(hub: tuple[System, dict[str, str]]) -> None:
    """Choices in words, errors that say what to do (no field names or library text), dates as
    people write them, the register's template a link away, a summary above every error."""
    system, _ = hub
    link = await invite(system, "Plain Words Music")
    async with browser(system) as client:
        csrf = await opened(client, link)
        kinds = (await client.get("/return/activities/new/kind")).text
        assert "Whole-class ensemble teaching (WCET)" in kinds and ">Wcet<" not in kinds
        assert "SEND and inclusion" in kinds and ">Cpd<" not in kinds
        none = await client.post("/return/activities/new/kind", data={"csrf": csrf})
        assert "Select the kind of activity" in summary(none.text)
        answers = {"csrf": csrf, "kind": "tuition", "setting_urn": "", "title": "Brass",
                   "starts_on": "2024-09-09", "hours": "lots"}  # fmt: skip
        details = await client.post("/return/activities/new/details", data=answers)
        assert "Enter the last day" in summary(details.text)
        assert "ends on:" not in summary(details.text)
        answers |= {"ends_on": "2025-07-18", "headcount": "9", "functions": "progression",
                    "aims": "progress_talent", "level": "beginner"}  # fmt: skip
        saved = await client.post("/return/activities/new/aims", data=answers)
        assert saved.status_code == 400 and "enter a number" in summary(saved.text)
        assert "hours:" not in summary(saved.text) and "Input should" not in saved.text
        participants = (await client.get("/return/participants")).text
        template = found(r'href="([^"]+\.csv)"', participants)
        header = (await client.get(template)).text.splitlines()[0]
        hub_template = Path("hub/data/activities-register-template.csv").read_text()
        assert header == hub_template.splitlines()[0]  # the importer's columns
        bad_urn = await client.post("/return/schools", data={"csrf": csrf, "schools": "12"})
        assert bad_urn.status_code == 400 and summary(bad_urn.text)


def summary(html: str) -> str:
    """The text of the page's "There is a problem" summary ('' without one)."""
    match = re.search(r'govuk-error-summary__list">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""
