"""The access policy, through the real apps: every route of reporting (JSON API and dashboard) and
of every node service, generated from the apps' own route tables, called by every role about its own
node, another node and the whole hub, and answered as the policy table below says.

The expectation for a request comes from the scope its route declares (or the view or evidence it
names declares) and POLICY, written out here by hand, so a route added without a declared scope,
or with a scope the table does not give the right answer for, fails."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.reporting.read.catalogue import VIEWS
from services.reporting.read.views.evidence import KEY_NAMES
from shared.auth import (
    Ask,
    Principal,
    Role,
    Scope,
    access_of,
    api_routes,
    may,
    require_declared,
)
from shared.nats_server import NatsServer
from tests.dashboard_helpers import PERIOD, dashboard_app, signed_in, text_of
from tests.guarded_helpers import (
    AUDITOR,
    MANAGER,
    OTHER,
    OWN,
    STAFF,
    guarded_settings,
    started,
    tokens_file,
)
from tests.helpers import System, organisation
from tests.test_reporting_population import COVENTRY_2023, SOLIHULL_2024, rows_of
from tests.test_reporting_views import load_dataset

ROLES = (STAFF, MANAGER, AUDITOR)
WHOLE_HUB = {MANAGER, AUDITOR}
EVERYONE = set(ROLES)

POLICY: dict[Scope, dict[str, set[str]]] = {
    Scope.OPEN: {"own": EVERYONE, "other": EVERYONE, "hub": EVERYONE},
    Scope.PUBLISHED: {"own": EVERYONE, "other": EVERYONE, "hub": EVERYONE},
    Scope.NODE: {"own": EVERYONE, "other": WHOLE_HUB, "hub": WHOLE_HUB},
    Scope.HUB: {"own": WHOLE_HUB, "other": WHOLE_HUB, "hub": WHOLE_HUB},
    Scope.PARTNER: {"own": set(), "other": set(), "hub": set()},
}
"""Reading: who may, by the route's scope and what the request names (its caller's own node, another
node, or the whole hub). Writing: node staff at their own node's services, nobody else. A partner's
pages (a partner return's session, tests/test_partner_returns.py) open to no token at all."""

EVIDENCE_KEYS: dict[str, dict[str, str]] = {
    **{
        v: {"own": OWN, "other": OTHER, "hub": "hub"}
        for v in ("pupils", "wcet", "headcount", "allocation")
    },
    "budget": {"own": f"{OWN}/schools/{OWN}", "other": f"{OTHER}/schools/{OTHER}"},
    **{
        v: {"hub": "hub"}
        for v in ("income", "spend", "commission", "schools", "partners", "continuation")
    },
    "inclusion": {"hub": "hub/send/ehcp", "own": f"{OWN}/send/ehcp"},
    "progression": {"hub": "hub/beginner/intermediate", "own": f"{OWN}/beginner/intermediate"},
}
"""Keys naming the caller's node or area, another's, or the hub, for each evidence; keys of
hub-scoped evidence that name an area still add up every node's events."""


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    scope: Scope
    names: str  # own, other or hub


@pytest.fixture
async def guarded(
    tmp_path: Path, hub_id: str, nats_server: NatsServer
) -> AsyncIterator[tuple[System, dict[str, str]]]:
    """A running hub whose services all require tokens, with the fixed dataset loaded."""
    tokens = tokens_file(tmp_path)
    people = {OWN: tokens[STAFF], OTHER: tokens["solihull-staff"]}
    async with started(
        System(guarded_settings(tmp_path, hub_id), nats_server.url, tokens=people)
    ) as s:
        yield s, tokens


async def load(system: System) -> dict[str, str]:
    """The dataset of test_reporting_views, a partner registered at each node and each
    area's population."""
    ids = await load_dataset(system)
    ids.update({f"income-{OWN}": ids["dfe_cov"], f"income-{OTHER}": ids["dfe_sol"]})
    ids.update(await event_ids(system, ids))
    for node, population in ((OWN, COVENTRY_2023), (OTHER, SOLIHULL_2024)):
        r = await system.post(
            node, "partners", "/organisations", organisation(f"{node} strings", areas=[node])
        )
        assert r.status_code == 201, r.text
        ids[f"partner-{node}"] = r.json()["organisation_id"]
        assert (
            await system.post(node, "partners", "/school-population", population)
        ).status_code == 201
    await system.report_when(lambda r: r.stamp.applied_events >= 21, timeout=30)
    return ids


async def event_ids(system: System, ids: dict[str, str]) -> dict[str, str]:
    """The event recording each node's income: what an event page names is its node's event."""
    from sqlalchemy import select

    from services.reporting.models import FundingFlowView

    await system.report_when(lambda r: r.stamp.applied_events >= 17, timeout=30)
    async with system.reporting.read_sessions() as session:
        found = {
            (n, e): event
            for n, e, event in await session.execute(
                select(FundingFlowView.node, FundingFlowView.entry_id, FundingFlowView.event_id)
            )
        }
    return {f"event-{node}": found[(node, ids[f"income-{node}"])] for node in (OWN, OTHER)}


def query_names(route: Any) -> set[str]:
    """The query parameters a route reads, its dependencies' included (the dashboard's filters)."""
    found, todo = set(), [route.original_route.dependant]
    while todo:
        dependant = todo.pop()
        found |= {p.alias for p in dependant.query_params}
        todo += dependant.dependencies
    return found


def calls_of(route: Any, ids: dict[str, str]) -> Iterator[Call]:
    """Realistic requests for one route: every view or evidence it serves,
    about each node and the hub."""
    access = access_of(route.endpoint)
    assert access is not None, f"{route.path} declares no access scope"
    method, path, query = sorted(route.methods)[0], route.path, query_names(route)
    base = {k: PERIOD for k in ("period", "academic_year") if k in query}
    base |= {"format": "json"} if "format" in query else {}  # exports: the fastest of their formats
    if {"view", "key"} <= query:  # evidence: each view's key names an area or node, or the hub
        for view, keys in EVIDENCE_KEYS.items():
            scope = (
                Scope.NODE if view in KEY_NAMES else Scope.HUB
            )  # as views/evidence.py declares them
            for names, key in keys.items():
                yield Call(method, url(path, {}, {**base, "view": view, "key": key}), scope, names)
        return
    for names, params in path_variants(path, ids):
        for view in list(VIEWS) if "{name}" in path and "/areas/" not in path else [None]:
            scope = (
                VIEWS[view].scope if view else access.scope
            )  # a view's page or export: the view's scope
            filled = {**params, **({"name": view} if view else {})}
            for n, extra in query_variants(query, scope, names):
                yield Call(method, url(path, filled, {**base, **extra}), scope, n)


def path_variants(path: str, ids: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    """What the path names: a node (or an entry of its ledger), a node's partner, an area;
    or nothing."""
    common = {"activity_id": ids["ensemble"], "fmt": "json"}
    for names, node in (("own", OWN), ("other", OTHER)):
        if "{node}" in path or "{ledger_node}" in path:
            yield (
                names,
                {**common, "node": node, "ledger_node": node, "entry_id": ids[f"income-{node}"]},
            )
        elif "{organisation_id}" in path:
            yield names, {**common, "organisation_id": ids[f"partner-{node}"]}
        elif "{event_id}" in path:
            yield names, {**common, "event_id": ids[f"event-{node}"]}
        elif "/areas/{name}" in path:
            yield names, {**common, "name": node}
        elif node == OWN:
            yield "hub", common


def query_variants(query: set[str], scope: Scope, names: str) -> list[tuple[str, dict[str, str]]]:
    """A route narrowed by ?node= is asked about each node, and about none
    (node staff: their own)."""
    if "node" not in query or names != "hub":
        return [(names, {})]
    return [
        ("own", {"node": OWN}),
        ("other", {"node": OTHER}),
        ("own" if scope is Scope.NODE else "hub", {}),
    ]


def url(path: str, params: dict[str, str], query: dict[str, str]) -> str:
    filled = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], path)
    return filled + ("?" + str(httpx.QueryParams(query)) if query else "")


def allowed(role: str, call: Call) -> bool:
    return role in POLICY[call.scope][call.names]


@contextlib.asynccontextmanager
async def api_client(app: FastAPI, token: str | None) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting", headers=headers
    ) as client:
        yield client


async def test_every_reporting_route_answers_every_role_as_the_policy_says(
    guarded: tuple[System, dict[str, str]], tmp_path: Path
) -> None:
    system, tokens = guarded
    ids = await load(system)
    app = dashboard_app(system, tmp_path)
    calls = [c for r in api_routes(app) for c in calls_of(r, ids) if r.methods == {"GET"}]
    assert {c.url.split("?")[0] for c in calls} >= {
        "/report/funding/360giving.xlsx",
        "/dashboard/audit",
    }
    wrong: list[str] = []
    for role in ROLES:
        async with api_client(app, tokens[role]) as api, signed_in(app, role) as pages:
            for call in calls:
                if call.scope is Scope.OPEN:
                    # the sign-in page: test_no_route_opens_without_credentials_but_the_open_ones
                    continue
                client = pages if call.url.startswith("/dashboard/") else api
                status = (await client.get(call.url)).status_code
                expected = 200 if allowed(role, call) else 403
                if status != expected:
                    wrong.append(
                        f"{role} {call.url} ({call.scope}, {call.names}): {status}, expected "
                        f"{expected}"
                    )
    assert not wrong, "\n".join(wrong)


async def test_no_route_opens_without_credentials_but_the_open_ones(
    guarded: tuple[System, dict[str, str]], tmp_path: Path
) -> None:
    system, _ = guarded
    ids = {
        k: str(uuid.uuid4())
        for k in (
            "ensemble",
            f"income-{OWN}",
            f"income-{OTHER}",
            f"partner-{OWN}",
            f"partner-{OTHER}",
            f"event-{OWN}",
            f"event-{OTHER}",
        )
    }
    app = dashboard_app(system, tmp_path)
    async with api_client(app, None) as anonymous:
        for route in api_routes(app):
            scope = access_of(route.endpoint).scope  # type: ignore[union-attr]
            call = next(calls_of(route, ids))
            r = await anonymous.request(call.method, call.url)
            if scope is Scope.OPEN:
                assert r.status_code not in (401, 403), call
            elif call.url.startswith("/dashboard/"):
                assert r.status_code == 303 and r.headers["location"].startswith(
                    "/dashboard/login"
                ), call
            else:
                assert r.status_code == 401, call


async def test_node_services_let_staff_write_their_own_node_and_everyone_else_read(
    guarded: tuple[System, dict[str, str]],
) -> None:
    system, tokens = guarded
    wrong: list[str] = []
    for (node, service), app in system._apps.items():
        names = "own" if node == OWN else "other"
        for route in api_routes(app):
            scope = (
                access_of(route.endpoint).scope if access_of(route.endpoint) else Scope.NODE
            )  # their node's
            for method in sorted(route.methods or ()):
                path = re.sub(r"\{(\w+)\}", lambda _m: str(uuid.uuid4()), route.path)
                reading = method in ("GET", "HEAD")
                for role in ROLES:
                    may_do = (
                        role in POLICY[scope][names]
                        if reading or scope in (Scope.OPEN, Scope.PARTNER)
                        else role == STAFF and names == "own"
                    )
                    async with api_client(app, tokens[role]) as client:
                        status = (await client.request(method, path, json={})).status_code
                    if may_do == (status in (401, 403)):
                        wrong.append(
                            f"{role} {method} {node} {service}{path}: {status}, expected "
                            f"allowed={may_do}"
                        )
    assert not wrong, "\n".join(wrong)


async def test_an_app_with_a_route_of_no_declared_scope_refuses_to_build() -> None:
    from services.reporting.http.report import router

    app = FastAPI()
    app.include_router(router)

    @app.get("/report/undeclared")
    async def undeclared() -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="/report/undeclared"):
        require_declared(app)


async def test_node_staff_are_shown_only_links_they_may_open(
    guarded: tuple[System, dict[str, str]], tmp_path: Path
) -> None:
    system, _ = guarded
    ids = await load(system)
    app = dashboard_app(system, tmp_path)
    async with signed_in(app, STAFF) as client:
        seen: set[str] = set()
        pages = [
            f"/dashboard/?period={PERIOD}",
            f"/dashboard/views/reach?period={PERIOD}",
            "/dashboard/areas",
            f"/dashboard/funding?period={PERIOD}",
            f"/dashboard/partners/{ids['partner-' + OWN]}",
            f"/dashboard/areas/{OWN}?period={PERIOD}",
            f"/dashboard/views/inclusion?period={PERIOD}",
            f"/dashboard/trace?view=pupils&key={OWN}&period={PERIOD}",
        ]
        for page in pages:
            r = await client.get(page)
            assert r.status_code == 200, page
            menu = text_of(r.text.split('id="navigation"')[1].split("</nav>")[0])
            assert "Data health" not in menu and "Audit" not in menu and "Funding" in menu
            for href in set(re.findall(r'href="(/dashboard/[^"]*)"', r.text)) - seen:
                seen.add(href)
                if "/static/" not in href:
                    opened = await client.get(href.replace("&amp;", "&"))
                    assert opened.status_code == 200, (page, href, opened.status_code)
        assert len(seen) > 20
        other = await client.get(f"/dashboard/partners/{ids['partner-' + OTHER]}")
        assert other.status_code == 403  # another node's register: not shown as zero figures
        for filtered in (
            # the filters are asked about too
            f"/dashboard/trace?view=pupils&key={OWN}&node={OTHER}",
            f"/dashboard/partners/{ids['partner-' + OWN]}?area={OTHER}",
        ):
            assert (await client.get(filtered)).status_code == 403, filtered
    async with signed_in(app, MANAGER) as client:
        menu = (await client.get("/dashboard/")).text
        assert "/dashboard/views/data-health" in menu and "/dashboard/audit" in menu


async def test_node_staff_inclusion_is_set_against_their_own_areas_population(
    guarded: tuple[System, dict[str, str]], tmp_path: Path
) -> None:
    system, tokens = guarded
    await load(system)
    app = dashboard_app(system, tmp_path)
    async with api_client(app, tokens[STAFF]) as staff, api_client(app, tokens[MANAGER]) as manager:
        own = (await staff.get(f"/report/views/inclusion?period={PERIOD}")).json()
        hub = (await manager.get(f"/report/views/inclusion?period={PERIOD}")).json()
        named = (await manager.get(f"/report/views/inclusion?period={PERIOD}&node={OWN}")).json()
    # Coventry's 2023-24 census alone (1,000 pupils, 30 EHCP): 3.0 %;
    # hub-wide with Solihull's 500: 50/1500.
    assert rows_of(own)[("send", "ehcp")][2] == "3.0" and rows_of(named) == rows_of(own)
    assert rows_of(hub)[("send", "ehcp")][2] == "3.3"
    assert all(
        "coventry 2023-24" in c["population"] and "solihull" not in c["population"]
        for c in own["characteristics"]
        if c["population_share"] is not None
    )


async def test_node_staff_trace_only_their_own_nodes_pupil_events(
    guarded: tuple[System, dict[str, str]], tmp_path: Path
) -> None:
    system, tokens = guarded
    await load(system)
    app = dashboard_app(system, tmp_path)
    query = f"/report/evidence?view=pupils&key={OWN}&period={PERIOD}"
    async with api_client(app, tokens[STAFF]) as staff, api_client(app, tokens[MANAGER]) as manager:
        own = (await staff.get(query)).json()
        assert (await staff.get(f"{query}&node={OTHER}")).status_code == 403
        area = (await manager.get(query)).json()
        other = (await manager.get(f"{query}&node={OTHER}")).json()
        reach = (await staff.get(f"/report/views/reach?period={PERIOD}&area={OWN}")).json()
    # Coventry residents in 2024-25: B in Coventry's ensemble, A in Solihull's tuition.
    assert {e["node"] for e in own["events"]} == {OWN} and own["distinct"] == 1 == reach[
        "unique_pupils"
    ]
    assert {e["node"] for e in area["events"]} == {OWN, OTHER} and area["distinct"] == 2
    assert {e["node"] for e in other["events"]} == {OTHER} and other["distinct"] == 1
    async with signed_in(app, STAFF) as client:
        page = text_of(
            (await client.get(f"/dashboard/trace?view=pupils&key={OWN}&period={PERIOD}")).text
        )
        assert OTHER not in page  # no event of Solihull's listed


@pytest.mark.parametrize(
    ("role", "scope", "ask", "method", "expected"),
    [
        (Role.NODE_STAFF, Scope.NODE, Ask(node=OWN), "POST", True),
        (Role.NODE_STAFF, Scope.NODE, Ask(node=OTHER), "POST", False),
        (Role.NODE_STAFF, Scope.NODE, Ask(node=OTHER), "GET", False),
        (Role.NODE_STAFF, Scope.NODE, Ask(), "GET", False),  # the whole hub's figures
        (
            Role.NODE_STAFF,
            Scope.NODE,
            Ask(own_by_default=True),
            "GET",
            True,
        ),  # narrowed to their node
        (Role.NODE_STAFF, Scope.NODE, Ask(area=OWN), "GET", True),
        (Role.NODE_STAFF, Scope.NODE, Ask(node=OWN, area=OTHER), "GET", False),
        (Role.NODE_STAFF, Scope.HUB, Ask(node=OWN), "GET", False),
        (Role.NODE_STAFF, Scope.PUBLISHED, Ask(node=OTHER), "GET", True),
        (
            Role.NODE_STAFF,
            Scope.NODE,
            Ask(node=OWN, scope=Scope.HUB),
            "GET",
            False,
        ),  # an entry's own scope wins
        (Role.CONSORTIUM_MANAGER, Scope.HUB, Ask(), "GET", True),
        (Role.CONSORTIUM_MANAGER, Scope.NODE, Ask(node=OTHER), "POST", False),
        (Role.AUDITOR, Scope.NODE, Ask(node=OTHER), "GET", True),
        (Role.AUDITOR, Scope.NODE, Ask(node=OTHER), "DELETE", False),
        (Role.AUDITOR, Scope.OPEN, Ask(), "POST", True),
    ],
)
def test_the_policy_table(role: Role, scope: Scope, ask: Ask, method: str, expected: bool) -> None:
    principal = Principal("someone", role, OWN if role is Role.NODE_STAFF else None)
    assert may(principal, method, scope, ask) is expected
