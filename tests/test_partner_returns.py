"""Partner returns on the web (issue 27, docs/partner-returns.md): an invitation link works once,
until it expires or is revoked; a partner's session reaches its own return and nothing else, no
node or hub page, whichever route of the node's app it tries (from the app's own route table);
forms need their CSRF token; a register's problems are shown row by row and none of it is kept."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from services.activities import web_returns as wr
from services.activities.models import ReturnInvitationRow
from shared.auth import Ask, Principal, Role, Scope, access_of, api_routes, may
from shared.envelope import utcnow
from shared.errors import Refused
from shared.nats_server import NatsServer
from shared.pseudonym import make_upn
from tests.guarded_helpers import MANAGER, OTHER, OWN, STAFF, guarded_settings, started, tokens_file
from tests.helpers import System

YEAR = "2024-25"
HEADER = "activity_ref,kind,title,starts_on,ends_on,headcount,upn,year_group,home_area\n"


@pytest.fixture
async def node(
    tmp_path: Path, hub_id: str, nats_server: NatsServer
) -> AsyncIterator[tuple[System, dict[str, str]]]:
    tokens = tokens_file(tmp_path)
    system = System(
        guarded_settings(tmp_path, hub_id), nats_server.url, tokens={OWN: tokens[STAFF]}
    )
    async with started(system):
        yield system, tokens


async def invite(system: System, name: str, days: int = 14) -> wr.Link:
    cmd = wr.Invite(
        partner_id=uuid.uuid4(),
        partner_name=name,
        academic_year=YEAR,
        due_on=date(2025, 7, 31),
        valid_days=days,
    )
    return await wr.invite(cmd, system.services[(OWN, "activities")].unit_of_work())


@contextlib.asynccontextmanager
async def browser(system: System, node: str = OWN) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no token, keeping cookies, as a partner's browser is."""
    transport = httpx.ASGITransport(app=system._apps[(node, "activities")])
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{node}") as client:
        yield client


async def opened(client: httpx.AsyncClient, link: wr.Link) -> str:
    """Use a link as the start page's button does; the session's CSRF token."""
    r = await client.post(f"/return/start/{link.token}")
    assert r.status_code == 303 and r.headers["location"] == "/return/", r.text
    page = (await client.get("/return/check")).text
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]


async def test_a_link_works_once_until_it_expires_or_is_revoked(
    node: tuple[System, dict[str, str]],
) -> None:
    system, _ = node
    uow = system.services[(OWN, "activities")].unit_of_work
    used, renewed, expiring = (
        await invite(system, "Used Music"),
        await invite(system, "Renewed Music"),
        await invite(system, "Expiring Music"),
    )
    async with browser(system) as client:
        start = await client.get(f"/return/start/{used.token}")
        assert start.status_code == 200 and "Used Music" in start.text
        assert (
            await client.get(f"/return/start/{used.token}")
        ).status_code == 200  # looking: not using
        await opened(client, used)
        for method in ("GET", "POST"):
            again = await client.request(method, f"/return/start/{used.token}")
            assert again.status_code == 410 and "already used" in again.text

        newer = await wr.resend(renewed.web_return_id, uow())
        old = await client.post(f"/return/start/{renewed.token}")
        assert old.status_code == 410 and "withdrawn" in old.text
        await wr.revoke(renewed.web_return_id, uow())
        assert (await client.post(f"/return/start/{newer.token}")).status_code == 410

        async with uow() as work:  # a fortnight later
            await work.session.execute(
                update(ReturnInvitationRow)
                .where(ReturnInvitationRow.web_return_id == expiring.web_return_id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await work.commit()
        late = await client.post(f"/return/start/{expiring.token}")
        assert late.status_code == 410 and "expired" in late.text
        assert (await client.get(f"/return/start/{'x' * 43}")).status_code == 410


async def test_revoking_signs_the_partner_out(node: tuple[System, dict[str, str]]) -> None:
    system, _ = node
    link = await invite(system, "Signed Out Music")
    async with browser(system) as client:
        await opened(client, link)
        assert (await client.get("/return/")).status_code == 200
        await wr.revoke(link.web_return_id, system.services[(OWN, "activities")].unit_of_work())
        assert (await client.get("/return/")).status_code == 401


async def test_a_partner_reaches_its_own_return_and_no_other_page(
    node: tuple[System, dict[str, str]], tmp_path: Path
) -> None:
    system, _ = node
    mine, theirs = await invite(system, "Mine Music"), await invite(system, "Theirs Music")
    async with browser(system) as client:
        csrf = await opened(client, mine)
        page = (await client.get("/return/")).text
        assert "Mine Music" in page and "Theirs Music" not in page
        app = system._apps[(OWN, "activities")]
        wrong = []
        for route in api_routes(app):
            access = access_of(route.endpoint)
            scope = access.scope if access else Scope.NODE  # a node API route: its node's
            route_path = str(route.path)
            path = re.sub(r"\{(\w+)\}", lambda m: theirs.web_return_id, route_path)
            path = path.replace(theirs.web_return_id, "0") if "index" in route_path else path
            for method in sorted(route.methods or ()):
                data = {"csrf": csrf, "title": "x", "schools": "123456"}
                r = await client.request(method, path, data=data)
                refused = r.status_code in (401, 403) or (
                    r.status_code == 303 and r.headers["location"] == "/staff/sign-in"
                )
                if scope in (Scope.OPEN, Scope.PARTNER) and refused:
                    wrong.append(f"{method} {path}: {r.status_code}, refused its own page")
                if scope not in (Scope.OPEN, Scope.PARTNER) and not refused:
                    wrong.append(f"{method} {path}: {r.status_code}, a partner reached it")
        assert not wrong, "\n".join(wrong)
        theirs_row = await wr.get_web_return(
            theirs.web_return_id, system.services[(OWN, "activities")].unit_of_work()
        )
        assert theirs_row.answers["schools"] == [] and theirs_row.status == "invited"
    async with browser(system, OTHER) as other_node:  # the same cookie's name at another node
        other_node.cookies.update(client.cookies)
        assert (await other_node.get("/return/")).status_code == 401


@pytest.mark.parametrize(
    ("scope", "ask", "method"),
    [
        (Scope.NODE, Ask(node=OWN), "GET"),
        (Scope.NODE, Ask(node=OWN), "POST"),
        (Scope.PUBLISHED, Ask(), "GET"),
        (Scope.HUB, Ask(), "GET"),
        (Scope.PARTNER, Ask(partner_return="another"), "POST"),
        (Scope.PARTNER, Ask(), "GET"),
    ],
)
def test_the_policy_keeps_a_partner_to_its_return(scope: Scope, ask: Ask, method: str) -> None:
    partner = Principal("Mine Music", Role.PARTNER, OWN, return_id="mine")
    assert not partner.whole_hub and not may(partner, method, scope, ask)
    assert may(partner, method, Scope.PARTNER, Ask(partner_return="mine"))
    for role in Role:  # nobody else opens a partner's pages, whoever they are
        if role is not Role.PARTNER:
            someone = Principal("someone", role, OWN)
            assert not may(someone, "GET", Scope.PARTNER, Ask(partner_return="mine"))


async def test_staff_tokens_do_not_open_a_partners_pages(
    node: tuple[System, dict[str, str]],
) -> None:
    system, tokens = node
    await invite(system, "Token Music")
    for who in (STAFF, MANAGER):
        async with system.client(OWN, "activities") as client:
            client.headers["Authorization"] = f"Bearer {tokens[who]}"
            assert (await client.get("/return/")).status_code == 401


async def test_forms_need_their_csrf_token_and_a_bad_register_keeps_nothing(
    node: tuple[System, dict[str, str]], tmp_path: Path
) -> None:
    system, _ = node
    link = await invite(system, "Forms Music")
    good, bad = make_upn("938201024001"), make_upn("938201024002")[:-1] + "0"
    register = HEADER + (
        f"R1,tuition,Cello,2024-10-01,2025-03-31,,{good},5,{OWN}\n"
        f"R1,tuition,Cello,2024-10-01,2025-03-31,,{bad},5,{OWN}\n"
        f"R2,kazoo,Kazoos,2024-10-01,2025-03-31,12,,,\n"
    )
    async with browser(system) as client:
        csrf = await opened(client, link)
        refused = await client.post("/return/schools", data={"schools": "123456"})
        assert refused.status_code == 403
        files = {"register": ("register.csv", register.encode(), "text/csv")}
        r = await client.post("/return/participants", data={"csrf": csrf}, files=files)
        assert r.status_code == 303
        page = (await client.get("/return/participants")).text
        cells = re.findall(r'<td class="govuk-table__cell">([^<]*)</td>', page)
        rows = [tuple(cells[i : i + 3]) for i in range(0, len(cells), 3)]
        assert [(n, c) for n, c, _ in rows] == [("3", "upn"), ("4", "kind")]
        assert bad not in page and good not in page  # a UPN is never quoted back
    row = await wr.get_web_return(
        link.web_return_id, system.services[(OWN, "activities")].unit_of_work()
    )
    assert row.register_rows == [] and row.answers["schools"] == []


def test_an_invitation_is_sent_where_smtp_is_configured_and_its_link_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aiosmtpd.controller import Controller

    from services.activities.mail import send_invitation
    from services.activities.settings import ActivitiesSettings
    from shared.nats_server import free_port

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[tuple[list[str], str]] = []

        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        url = "http://coventry.example/return/start/secret-token"
        unset = ActivitiesSettings(smtp_host=None)
        assert not send_invitation(unset, "a@b.example", "Swan", YEAR, "2025-07-31", url)
        settings = ActivitiesSettings(
            smtp_host="127.0.0.1", smtp_port=server.port, smtp_starttls=False
        )
        assert not send_invitation(settings, None, "Swan", YEAR, "2025-07-31", url)  # no address
        with caplog.at_level("DEBUG"):
            assert send_invitation(settings, "a@b.example", "Swan", YEAR, "2025-07-31", url)
    finally:
        server.stop()
    ((to, body),) = inbox.messages
    assert to == ["a@b.example"] and url in body and f"Subject: Your {YEAR} return" in body
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    assert ours and not [m for m in ours if "secret-token" in m]  # the test server's own log aside


async def test_a_sent_return_cannot_be_changed_and_the_page_says_why(
    node: tuple[System, dict[str, str]],
) -> None:
    system, _ = node
    link = await invite(system, "Sent Music")
    activity = {
        "kind": "ensemble",
        "title": "Junior strings",
        "starts_on": "2024-09-10",
        "ends_on": "2025-07-15",
        "hours": "40",
        "headcount": "18",
        "functions": "progression",
    }
    async with browser(system) as client:
        csrf = await opened(client, link)
        outside = {**activity, "starts_on": "2023-09-10", "csrf": csrf}
        refused = await client.post("/return/activities/new/aims", data=outside)
        assert refused.status_code == 400 and "This return is for 2024-25" in refused.text
        added = await client.post("/return/activities/new/aims", data={**activity, "csrf": csrf})
        assert added.status_code == 303
        assert (await client.post("/return/submit", data={"csrf": csrf})).status_code == 303
        again = await client.post("/return/activities/new/aims", data={**activity, "csrf": csrf})
        assert again.status_code == 409 and "can no longer be changed" in again.text
        assert again.headers["content-type"].startswith("text/html")
    row = await wr.get_web_return(
        link.web_return_id, system.services[(OWN, "activities")].unit_of_work()
    )
    assert row.status == "submitted" and len(row.answers["activities"]) == 1


def test_the_partner_pages_serve_the_dashboards_gov_uk_frontend() -> None:
    """`make assets` refreshes both copies; a copy left behind would drift."""
    from harness.assets import GOVUK_COPIES, GOVUK_STATIC

    for copy in GOVUK_COPIES:
        for name in ("govuk-frontend.min.css", "VERSION", "LICENSE"):
            assert (copy / name).read_bytes() == (GOVUK_STATIC / name).read_bytes(), name


async def test_an_accepted_return_is_not_invited_again_and_a_bad_area_is_a_row_problem(
    node: tuple[System, dict[str, str]], tmp_path: Path
) -> None:
    from shared.outbox import SEQUENCE, read_cursor

    system, _ = node
    service = system.services[(OWN, "activities")]
    link = await invite(system, "Accepted Music")
    await wr.open_link(link.token, service.unit_of_work())
    file = tmp_path / "register.csv"
    file.write_text(
        "activity_ref,kind,title,starts_on,ends_on,headcount,area\n"
        "E1,ensemble,Brass band,2024-09-10,2025-07-15,20,Not An Area\n"
    )
    problems = await wr.upload_register(
        link.web_return_id, file, OWN, [OWN, OTHER], service.unit_of_work()
    )
    assert [(p.row, p.column) for p in problems] == [(2, "area")]
    file.write_text(file.read_text().replace("Not An Area", OWN))
    assert (
        await wr.upload_register(
            link.web_return_id, file, OWN, [OWN, OTHER], service.unit_of_work()
        )
        == []
    )
    await wr.submit(link.web_return_id, date(2025, 7, 1), service.unit_of_work())
    keys = system._apps[(OWN, "activities")].state.pseudonymiser
    accepted = await wr.accept(link.web_return_id, OWN, service.unit_of_work, keys)
    assert accepted.activities_added == 1

    async def published() -> int:
        async with service.read_sessions() as session:
            return await read_cursor(session, service.outbox.cursor, SEQUENCE)

    before = await published()
    row = await wr.get_web_return(link.web_return_id, service.unit_of_work())
    again = wr.Invite(
        partner_id=uuid.UUID(row.partner_id),
        partner_name="Accepted Music",
        academic_year=YEAR,
        due_on=date(2025, 7, 31),
    )
    with pytest.raises(Refused, match="already accepted"):
        await wr.invite(again, service.unit_of_work())
    assert await published() == before  # no PartnerReturnExpected for a closed return
