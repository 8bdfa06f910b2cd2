"""The dashboard's pages: HTML over the same catalogue of views, evidence, funding trails and audit
as the JSON API, so every figure on a page is the figure the API and the exports give.

Filters live in the URL (period, kind, node, area, function, partner) so a page can be shared;
every page declares its scope (shared/auth.py) and the one access policy decides, before any view
runs, as it does for the JSON API; links are shown only where the policy lets the user open them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from services.reporting.dashboard import charts
from services.reporting.dashboard.auth import DEVELOPER, DashboardUser, Users
from services.reporting.dashboard.curated import Curated, curate, table_title
from services.reporting.dashboard.figures import (
    areas,
    partner,
    partner_choices,
    partner_count,
    partner_figures,
    partner_history,
    partners,
)
from services.reporting.dashboard.flows import HEADINGS, funding_flows
from services.reporting.dashboard.sessions import LoginThrottle, Sessions
from services.reporting.deps import ReadSession
from services.reporting.http.views import evidence_asks, export_view, view_asks
from services.reporting.ingest.audit import verify
from services.reporting.read import charts as read_charts
from services.reporting.read import present
from services.reporting.read.catalogue import VIEWS, ReachReport, run_view, run_view_as
from services.reporting.read.charts import describe
from services.reporting.read.exports import giving360
from services.reporting.read.exports.tables import tables_of, to_json
from services.reporting.read.names import delivery_years, load_names, money_years
from services.reporting.read.params import Filters, ViewParams
from services.reporting.read.queries import hub_report, report_stamp
from services.reporting.read.versioned import per_version
from services.reporting.read.views.accountability import InclusionReport, SchoolsReport
from services.reporting.read.views.allocation import only_node
from services.reporting.read.views.evidence import MONEY_EVIDENCE, EvidenceView, evidence
from services.reporting.read.views.funding import (
    Ledger,
    budget_vs_actual,
    period_ledger,
    summarise,
)
from shared.auth import (
    Ask,
    Scope,
    api_routes,
    authorize,
    declare,
    effective,
    may,
    named_by_filters,
    request_access,
    require,
)
from shared.contracts.vocabulary import StrategicFunction
from shared.periods import PeriodKind, academic_year, parse_period

PARTNER_CHOICES = 300
"""Up to this many partners the filter is a list of names; beyond it,
a box for an organisation id."""
PARTNERS_PER_PAGE = 100
EVENTS_PER_PAGE = 200
GRANTS_PER_PAGE = 200
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["pounds"] = present.pounds
templates.env.filters["number"] = present.number
templates.env.filters["hours"] = present.hours
templates.env.filters["when"] = present.when
templates.env.filters["words"] = present.words
templates.env.filters["place"] = present.name
templates.env.filters["label"] = lambda key: str(key).replace("_", " ")
templates.env.filters["node_label"] = charts.node_label
templates.env.filters["flow_label"] = charts.node_label
templates.env.filters["table_title"] = table_title
templates.env.filters["zip_pairs"] = lambda values: [(v, str(v).replace("_", " ")) for v in values]
templates.env.filters["place_pairs"] = lambda values: [(v, present.name(v)) for v in values]
templates.env.filters["word_pairs"] = lambda values: [(v, present.words(v)) for v in values]
templates.env.filters["partner_pairs"] = lambda found: [
    (p.organisation_id, f"{p.name} ({present.name(p.node)})") for p in found
]


class LoginRequired(Exception):
    """Raised by `current_user`; answered with a redirect to the login page."""


def users_of(request: Request) -> Users | None:
    users: Users | None = request.app.state.dashboard_users
    return users


def signed_in(request: Request) -> DashboardUser:
    users = users_of(request)
    if users is None:
        return DEVELOPER  # no users configured: development only, as for the API tokens
    user = users.user(sessions_of(request).user(request.session.get("sid", "")) or "")
    if user is None:
        raise LoginRequired
    return user


def page_guard(request: Request) -> DashboardUser | None:
    """Every dashboard route crosses this: sign-in, then the access policy on the page's
    declared scope."""
    if request_access(request)[0] is Scope.OPEN:
        return None
    return authorize(signed_in(request), request)


def current_user(user: Annotated[DashboardUser | None, Depends(page_guard)]) -> DashboardUser:
    if user is None:
        raise HTTPException(500, "an open page asked for its user")
    return user


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.dashboard_sessions
    return sessions


User = Annotated[DashboardUser, Depends(current_user)]


def may_open(request: Request, url: str) -> bool:
    """Whether the signed-in user may open `url`: its route's declared scope and what the URL names,
    decided by the policy the route itself applies, so a link is shown only where it opens."""
    user = getattr(request.state, "principal", None)
    if user is None:
        return users_of(request) is None  # open (development) mode
    parts = urlsplit(url)
    for pattern, convertors, endpoint in _get_routes(request.app):
        found = pattern.match(parts.path)
        if found:
            params = {k: convertors[k].convert(v) for k, v in found.groupdict().items()}
            probe = Request(
                {
                    "type": "http",
                    "method": "GET",
                    "path": parts.path,
                    "headers": [],
                    "app": request.app,
                    "query_string": parts.query.encode(),
                    "endpoint": endpoint,
                    "path_params": params,
                }
            )
            return may(user, "GET", *request_access(probe))
    return False


def _get_routes(app: Any) -> list[tuple[Any, dict[str, Any], Any]]:
    """The app's GET routes (pattern, path convertors, endpoint), read from its route table once:
    a page may ask about hundreds of links."""
    if not hasattr(app.state, "get_routes"):
        app.state.get_routes = [
            (r.path_regex, r.param_convertors, r.endpoint)
            for r in api_routes(app)
            if "GET" in (r.methods or ())
        ]
    routes: list[tuple[Any, dict[str, Any], Any]] = app.state.get_routes
    return routes


templates.env.globals["may_open"] = may_open


MONEY_PAGES = {"/dashboard/funding", "/dashboard/views/funding"}
"""Pages about money open on the latest year with ledger entries; the others on the latest year
with delivery."""


@dataclass(frozen=True)
class PeriodStatus:
    """The year a page shows and whether it has data: an empty year is said, not shown as zeros."""

    what: Literal["delivery", "money"]
    defaulted: bool
    has_data: bool
    latest: str | None
    """The latest year with data (None: no data at all)."""


async def years_with_data(
    session: ReadSession, what: Literal["delivery", "money"], kind: PeriodKind
) -> list[str]:
    if what == "money":
        return await money_years(session, kind)
    return await delivery_years(session)


def latest_of(years: list[str], upto: str) -> str | None:
    """The latest of `years` not after `upto` (else the earliest after it; None without years)."""
    return max((y for y in years if y <= upto), default=years[0] if years else None)


@dataclass(frozen=True)
class PageFilters:
    """The filters of a page, as the URL gives them and after the user's scope is applied."""

    period: str
    kind: PeriodKind = "academic"
    node: str | None = None
    area: str | None = None
    function: str | None = None
    partner: str | None = None
    status: PeriodStatus | None = field(default=None, compare=False)

    def query(self, **changes: str | None) -> str:
        values = {**{k: v for k, v in asdict(self).items() if k != "status"}, **changes}
        return urlencode({k: v for k, v in values.items() if v})

    def menu_query(self) -> str:
        """The filters the menu carries to other pages: a year the page chose by itself is left out,
        so each page opens on its own latest year with data (money pages on the latest with money).
        """
        defaulted = self.status is not None and self.status.defaulted
        return self.query(period=None) if defaulted else self.query()

    def view_params(self, request: Request) -> ViewParams:
        settings = request.app.state.reporting.settings
        return ViewParams(
            hub=settings.hub,
            nodes=settings.nodes,
            period=self.period,
            kind=self.kind,
            filters=Filters(node=self.node, area=self.area, function=self.function),
        )


def _about_money(request: Request) -> bool:
    """A money page, or the trace of a money figure (which opens on a year with money too)."""
    path = request.url.path
    return path in MONEY_PAGES or (
        path == "/dashboard/trace" and request.query_params.get("view") in MONEY_EVIDENCE
    )


async def page_filters(
    request: Request,
    session: ReadSession,
    user: User,
    period: str | None = None,
    kind: PeriodKind = "academic",
    node: str | None = None,
    area: str | None = None,
    function: str | None = None,
    partner: str | None = None,
) -> PageFilters:
    what: Literal["delivery", "money"] = "money" if _about_money(request) else "delivery"
    years = await years_with_data(session, what, kind)
    latest = latest_of(years, parse_period(academic_year(date.today()), kind).name)
    asked = period
    period = period or latest or ViewParams.default_period()
    try:
        parse_period(period, kind)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    status = PeriodStatus(what, asked is None, period in years, latest)
    if function and function not in set(StrategicFunction):
        raise HTTPException(422, f"no strategic function {function!r}")
    nodes = request.app.state.reporting.settings.nodes
    if node and node not in nodes:
        raise HTTPException(404, f"no node {node!r}")
    scope, _ = request_access(request)
    named = Ask(node=node or None, area=area or None, own_by_default=True)
    require(user, request.method, scope, named)  # the filters too, whatever else the page names
    return PageFilters(
        period,
        kind,
        effective(user, scope, named).node,
        area or None,
        function or None,
        partner or None,
        status,
    )


Page = Annotated[PageFilters, Depends(page_filters)]
router = APIRouter(prefix="/dashboard", include_in_schema=False, dependencies=[Depends(page_guard)])


def named_area(request: Request) -> Ask:
    """An area's page names its area in the path, beside the filters."""
    return replace(named_by_filters(request), area=request.path_params["name"])


def periods(today: date | None = None) -> list[str]:
    """The current year and the five before it (the same names serve academic and
    financial years)."""
    current = parse_period(academic_year(today or date.today()), "academic")
    names = [current.name]
    for _ in range(5):
        current = current.previous()
        names.append(current.name)
    return names


async def render(
    request: Request,
    session: ReadSession,
    template: str,
    user: DashboardUser,
    filters: PageFilters | None,
    **context: Any,
) -> Response:
    """A page with the chrome every page shares: who is signed in, the filters and their options."""
    settings = request.app.state.reporting.settings
    node = None if user.whole_hub else user.node
    query = filters.query() if filters else ""
    choices = await partner_choices(
        session, node, PARTNER_CHOICES + 1
    )  # one query: a list, or too many to list
    options = {
        "periods": periods(),
        "nodes": settings.nodes if user.whole_hub else [user.node],
        "areas": await areas(session) if user.whole_hub else list(user.areas),
        "functions": [str(f) for f in StrategicFunction],
        "partners": choices if len(choices) <= PARTNER_CHOICES else None,
    }
    return templates.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "open_mode": users_of(request) is None,
            "filters": filters,
            "options": options,
            "views": {
                n: VIEWS[n] for n in VIEWS if may_open(request, f"/dashboard/views/{n}?{query}")
            },
            "hub": settings.hub,
            "returns_url": None if user.whole_hub else returns_url(request, str(user.node)),
            **context,
        },
    )


def returns_url(request: Request, node: str) -> str:
    """The node's own page for partner returns: they are node data, invited, reviewed and
    accepted at the node (docs/partner-returns.md), which only node staff reach."""
    service = request.app.state.reporting
    configured: dict[str, str] = service.own.node_returns_urls
    port = service.settings.service_port("activities", node)
    return configured.get(node) or f"http://127.0.0.1:{port}/staff/returns"


# ---------------------------------------------------------------- sign in and out


@router.get("/login")
@declare(Scope.OPEN)
async def login_form(request: Request, next: str = "/dashboard/") -> Response:
    return templates.TemplateResponse(
        request, "login.html", {"next": _local(next), "error": None, "user": None}
    )


@router.post("/login")
@declare(Scope.OPEN)
async def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/dashboard/",
) -> Response:
    _same_origin(request)
    users = users_of(request)
    throttle: LoginThrottle = request.app.state.login_throttle
    client = request.client.host if request.client else "?"
    if wait := throttle.wait(username, client):
        minutes = math.ceil(wait / 60)
        return _login_refused(
            request,
            next,
            f"Too many failed sign-ins: try again in {minutes} minute{'s' if minutes > 1 else ''}",
            429,
            {"Retry-After": str(math.ceil(wait))},
        )
    user = await run_in_threadpool(users.authenticate, username, password) if users else DEVELOPER
    if user is None:
        throttle.failed(username, client)
        return _login_refused(request, next, "The username or password is not right", 401)
    throttle.succeeded(username)
    request.session.clear()
    request.session["sid"] = sessions_of(request).start(user.name)
    return RedirectResponse(_local(next), status_code=303)


def _login_refused(
    request: Request, next: str, error: str, status: int, headers: dict[str, str] | None = None
) -> Response:
    return templates.TemplateResponse(
        request,
        "login.html",
        {"next": _local(next), "user": None, "error": error},
        status_code=status,
        headers=headers,
    )


@router.post("/logout")
@declare(Scope.OPEN)
async def logout(request: Request) -> Response:
    _same_origin(request)
    sessions_of(request).end(
        request.session.get("sid", "")
    )  # ended here, not just forgotten by this browser
    request.session.clear()
    return RedirectResponse("/dashboard/login", status_code=303)


def _same_origin(request: Request) -> None:
    """Refuse a form posted from another site (login CSRF); browsers send Origin on every POST."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "a form from another site")


def _local(path: str) -> str:
    """Only ever redirect within the dashboard (no open redirect)."""
    return path if path.startswith("/dashboard/") and "//" not in path[1:] else "/dashboard/"


# ---------------------------------------------------------------- pages


@router.get("/")
@declare(Scope.NODE, named_by_filters)
async def overview(request: Request, session: ReadSession, user: User, f: Page) -> Response:
    p = f.view_params(request)
    report = await hub_report(session, p.hub, p.nodes)
    rows = report.nodes if user.whole_hub else [n for n in report.nodes if n.node == user.node]
    reached = await run_view_as(session, "reach", p, ReachReport, shared=True)
    area_reach = reached.breakdowns["area"]
    money = await _money(session, f)
    by_area = area_reach.rows
    chart = await _overview_chart(session, p)
    years = await money_years(session, f.kind)
    latest = latest_of(years, f.period)
    money_status = PeriodStatus("money", False, f.period in years, latest)
    return await render(
        request,
        session,
        "overview.html",
        user,
        f,
        report=report,
        rows=rows,
        reach=area_reach,
        money=money,
        by_area=by_area,
        chart=chart,
        money_status=money_status,
        trace_key=f.area or ("hub" if user.whole_hub else user.areas[0] if user.areas else "hub"),
    )


async def _overview_chart(session: ReadSession, p: ViewParams) -> Markup:
    """The overview's chart of unique pupils by home area, drawn once per data version."""

    async def draw() -> Markup:
        reached = await run_view_as(session, "reach", p, ReachReport, shared=True)
        by_area = reached.breakdowns["area"].rows
        return charts.bar_chart(
            "Unique pupils by home area",
            describe(by_area, "group", "unique_pupils", "pupils"),
            [present.name(r.group) if r.group else "Not known" for r in by_area],
            [read_charts.Series("unique pupils", [r.unique_pupils for r in by_area])],
            "reach-area",
        )

    return await per_version(session, ("overview chart", repr(p)), draw, shared=True)


async def _money(session: ReadSession, f: PageFilters) -> Any:
    """The period's income and spend (the overview's money line), once per data version."""

    async def compute() -> Any:
        return summarise(await _money_of_period(session, f), f.kind, f.period)

    return await per_version(
        session, ("overview money", f.node, f.kind, f.period), compute, shared=True
    )


@router.get("/views/{name}")
@declare(Scope.NODE, view_asks)
async def view_page(
    request: Request, session: ReadSession, user: User, f: Page, name: str
) -> Response:
    if name not in VIEWS:
        raise HTTPException(404, f"no view {name!r}")
    p = f.view_params(request)
    result = await run_view(session, name, p, shared=True)
    tables = await view_tables(session, name, p)
    shown = await view_shown(session, name, p)
    return await render(
        request,
        session,
        "view.html",
        user,
        f,
        name=name,
        spec=VIEWS[name],
        result=result,
        tables=tables,
        curated=shown.curated,
        charts=shown.charts,
    )


async def view_tables(session: ReadSession, name: str, p: ViewParams) -> list[Any]:
    """A view flattened into the tables its page shows (and its downloads offer),
    once per data version."""

    async def flatten() -> list[Any]:
        return tables_of(await run_view(session, name, p, shared=True))

    return await per_version(session, ("view tables", name, repr(p)), flatten, shared=True)


@dataclass(frozen=True)
class ViewShown:
    """What a view's page shows of its result: the curated tables and the chart its catalogue
    entry declares (none, or one), drawn."""

    curated: Curated
    charts: list[Markup]


async def view_shown(session: ReadSession, name: str, p: ViewParams) -> ViewShown:
    """A view's page content, curated and drawn once per data version (shared: pages only read
    it); rendering the page around it is all a later visitor pays for."""

    async def show() -> ViewShown:
        result = await run_view(session, name, p, shared=True)
        chart_of = VIEWS[name].chart
        return ViewShown(
            curate(result, await load_names(session)),
            [charts.draw(chart_of(result))] if chart_of else [],
        )

    return await per_version(session, ("view shown", name, repr(p)), show, shared=True)


def inclusion_chart(rows: list[Any]) -> Any:
    return charts.draw(read_charts.inclusion_chart(rows))


def budget_chart(lines: list[Any]) -> Any:
    return charts.draw(read_charts.budget_chart(lines))


@router.get("/areas")
@declare(Scope.NODE, named_by_filters)
async def areas_page(request: Request, session: ReadSession, user: User, f: Page) -> Response:
    names = await areas(session) if user.whole_hub else list(user.areas)
    return await render(request, session, "areas.html", user, f, names=names)


@router.get("/areas/{name}")
@declare(Scope.NODE, named_area)
async def area_page(
    request: Request, session: ReadSession, user: User, f: Page, name: str
) -> Response:
    if f.area and f.area != name:  # another area chosen in the filters: that area's page
        return RedirectResponse(f"/dashboard/areas/{f.area}?{f.query(area=None)}", status_code=303)
    area = name
    f = replace(f, area=area)
    p = f.view_params(request)
    reach = await run_view(session, "reach", p)
    schools = await run_view_as(session, "schools", p, SchoolsReport)
    inclusion = await run_view_as(session, "inclusion", p, InclusionReport)
    mine = [a for a in schools.areas if a.area == area]
    return await render(
        request,
        session,
        "area.html",
        user,
        f,
        area=area,
        reach=reach,
        schools=schools,
        inclusion=inclusion,
        area_schools=mine[0] if mine else None,
        charts=[inclusion_chart(inclusion.characteristics)],
    )


@router.get("/partners")
@declare(Scope.NODE, named_by_filters)
async def partners_page(
    request: Request,
    session: ReadSession,
    user: User,
    f: Page,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    node = None if user.whole_hub else user.node
    pages = _page_count(await partner_count(session, node), PARTNERS_PER_PAGE)
    rows = await partners(session, node, (page - 1) * PARTNERS_PER_PAGE, PARTNERS_PER_PAGE)
    return await render(
        request, session, "partners.html", user, f, rows=rows, page=page, pages=pages
    )


@router.get("/partners/{organisation_id}")
@declare(Scope.NODE, named_by_filters)
async def partner_page(
    request: Request, session: ReadSession, user: User, f: Page, organisation_id: str
) -> Response:
    if f.partner and f.partner != organisation_id:  # another partner chosen in the filters
        return RedirectResponse(
            f"/dashboard/partners/{f.partner}?{f.query(partner=None)}", status_code=303
        )
    found = await partner(session, organisation_id)
    if found is None:
        raise HTTPException(404, f"no partner {organisation_id}")
    require(user, "GET", Scope.NODE, Ask(node=found.node))  # the partner's node is known only now
    f = replace(f, partner=organisation_id)
    filters = f.view_params(request).filters
    figures = await partner_figures(session, found, f.period, f.kind, filters)
    years = sorted(set(await delivery_years(session)) | set(await money_years(session, "academic")))
    history = await partner_history(session, found, years, filters)
    return await render(
        request,
        session,
        "partner.html",
        user,
        f,
        partner=found,
        figures=figures,
        history=history,
    )


@router.get("/funding")
@declare(Scope.NODE, named_by_filters)
async def funding_page(
    request: Request,
    session: ReadSession,
    user: User,
    f: Page,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """The flow of money from the ledger itself (one load);
    leverage and unit costs are on the funding view."""
    figures = await funding_figures(session, f)
    grants, pages = _page_of(figures.grants, page, GRANTS_PER_PAGE)
    return await render(
        request,
        session,
        "funding.html",
        user,
        f,
        money=figures.money,
        budget=figures.budget,
        flows=figures.flows,
        sankey=figures.sankey,
        budget_chart=figures.budget_chart,
        grants=grants,
        grant_count=len(figures.grants),
        page=page,
        pages=pages,
        per_page=GRANTS_PER_PAGE,
        names=await load_names(session),
        position=await report_stamp(session),
    )


@dataclass(frozen=True)
class FundingFigures:
    """What the funding page shows for a node (or the hub) and period,
    computed once per data version."""

    money: Any
    budget: list[Any]
    flows: Any
    sankey: Any
    budget_chart: Any
    grants: list[Any]


async def funding_figures(session: ReadSession, f: PageFilters) -> FundingFigures:
    return await per_version(
        session,
        ("funding page", f.node, f.kind, f.period),
        lambda: _funding_figures(session, f),
        shared=True,
    )


async def _money_of_period(session: ReadSession, f: PageFilters) -> Ledger:
    """The part of the ledger a period's money figures read (not every year's spend),
    narrowed to the page's node."""
    period = parse_period(f.period, f.kind)
    return only_node(await period_ledger(session, period.starts_on, period.ends_on), f.node)


async def _funding_figures(session: ReadSession, f: PageFilters) -> FundingFigures:
    ledger = await _money_of_period(session, f)
    budget = [
        b for b in await budget_vs_actual(session, f.kind, f.period) if f.node in (None, b.node)
    ]
    flows = funding_flows(ledger, f.kind, f.period)
    pounds = templates.env.filters["pounds"]
    desc = (
        "; ".join(
            f"{charts.node_label(k.source)} to {charts.node_label(k.target)}: {pounds(k.value)}"
            for k in flows.links
        )
        or "No money moved in this period."
    )
    sankey = charts.sankey(
        f"Funding {f.period} ({f.kind} year): income to spend",
        desc,
        flows.links,
        flows.columns,
        HEADINGS,
        "funding-flow",
        fmt=pounds,
    )
    period = parse_period(f.period, f.kind)
    grants = sorted(
        (
            e
            for e in ledger.originals("income")
            if ledger.active((e.node, e.entry_id)) and period.contains(e.entry_on)
        ),
        key=lambda e: (e.entry_on, e.node, e.entry_id),  # not the ledger's (storage) order
    )
    return FundingFigures(
        summarise(ledger, f.kind, f.period), budget, flows, sankey, budget_chart(budget), grants
    )


async def warm_pages(sessions: Any, hub: str, nodes: list[str], period: str) -> None:
    """What the pages add to the views, hub-wide for `period`, so that a first visit after a burst
    of events only renders: every page's filter lists and the names beside ids, each view page's
    tables, curated tables and chart, the overview's money and chart, the funding page's figures,
    the overview's pupils trace, and the templates compiled (the views themselves are warmed by the
    catalogue, read/catalogue.warm_views). Also for the years the pages open on when none is asked
    for (the latest with delivery, with money)."""
    for template in templates.env.list_templates(extensions=["html"]):
        templates.env.get_template(template)  # compiled once per process, kept by the environment
    async with sessions() as session:
        current = parse_period(academic_year(date.today()), "academic").name
        delivery = latest_of(await delivery_years(session), current)
        money = latest_of(await money_years(session, "academic"), current)
        await load_names(session)
        await areas(session)
        await partner_choices(session, None, PARTNER_CHOICES + 1)
    for year in dict.fromkeys(y for y in (period, delivery, money) if y):
        await _warm_year(sessions, hub, nodes, year)


async def _warm_year(sessions: Any, hub: str, nodes: list[str], period: str) -> None:
    f = PageFilters(period=period)
    p = ViewParams(hub=hub, nodes=nodes, period=period)
    async with sessions() as session:
        for name in VIEWS:
            await view_tables(session, name, p)
            await view_shown(session, name, p)
        await _overview_chart(session, p)
        await _money(session, f)
        await funding_figures(session, f)
        await evidence(session, "pupils", "hub", period)


# ---------------------------------------------------------------- trace and audit


@router.get("/trace")
@declare(Scope.NODE, evidence_asks)
async def trace_page(
    request: Request,
    session: ReadSession,
    user: User,
    f: Page,
    view: EvidenceView,
    key: str,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """A page of the events behind a figure (a hub-wide pupil count has one per participation
    event); all of them are in the JSON download."""
    found = await _evidence(session, user, f, view, key)
    shown, pages = _page_of(found.events, page, EVENTS_PER_PAGE)
    return await render(
        request,
        session,
        "trace.html",
        user,
        f,
        evidence=found,
        events=shown,
        page=page,
        pages=pages,
        first=(page - 1) * EVENTS_PER_PAGE + 1,
        query=f.query(view=view, key=key),
    )


async def _evidence(
    session: ReadSession, user: DashboardUser, f: PageFilters, view: EvidenceView, key: str
) -> Any:
    """The events behind one figure (the policy has allowed them); a bad period or key is a 422."""
    try:
        return await evidence(session, view, key, f.period, f.kind, f.node)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


def _page_count(count: int, per_page: int) -> int:
    return max(1, -(-count // per_page))


def _page_of(items: list[Any], page: int, per_page: int) -> tuple[list[Any], int]:
    """The items on page `page` (from 1) and how many pages there are (at least one)."""
    return items[(page - 1) * per_page : page * per_page], _page_count(len(items), per_page)


@router.get("/audit")
@declare(Scope.HUB)
async def audit_page(request: Request, session: ReadSession, user: User, f: Page) -> Response:
    return await render(request, session, "audit.html", user, f, audit=await verify(session))


# ---------------------------------------------------------------- downloads


@router.get("/download/360giving.{fmt}")
@declare(Scope.HUB)
async def download_360giving(
    request: Request, session: ReadSession, user: User, fmt: Literal["json", "xlsx"]
) -> Response:
    settings = request.app.state.reporting.settings
    hub = settings.hub
    grants = await giving360.build_grants(session, hub)
    headers = {"Content-Disposition": f'attachment; filename="{hub}-360giving.{fmt}"'}
    if fmt == "json":
        return Response(
            giving360.to_json(giving360.package(grants, hub, settings.display_name)),
            media_type="application/json",
            headers=headers,
        )
    return Response(giving360.to_xlsx(grants), media_type=XLSX, headers=headers)


@router.get("/download/trace.json")
@declare(Scope.NODE, evidence_asks)
async def download_trace(
    session: ReadSession, user: User, f: Page, view: EvidenceView, key: str
) -> Response:
    """Every event behind a figure (the trace page shows them a page at a time)."""
    found = await _evidence(session, user, f, view, key)
    name = f"trace-{view}-{key.replace('/', '-')}-{f.period}.json"
    return Response(
        to_json(found),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/download/{name}.{fmt}")
@declare(Scope.NODE, view_asks)
async def download(
    request: Request,
    session: ReadSession,
    user: User,
    f: Page,
    name: str,
    fmt: Literal["json", "csv", "xlsx"],
    table_name: Annotated[str | None, Query(alias="table")] = None,
) -> Response:
    """The API's export (views/routes.py), with the page's filters after the user's scope."""
    return await export_view(
        request,
        session,
        name,
        fmt,
        table_name,
        f.period,
        f.kind,
        f.node,
        f.area,
        f.function,
        None,
        None,
        10,
    )
