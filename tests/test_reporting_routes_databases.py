"""Every GET route of the reporting app, on SQLite and PostgreSQL, over the demo's sample hub.

The read paths are mostly tested on SQLite, and some have SQLite-only fast paths; a PostgreSQL
crash (decoded JSON lists put in a set) once reached every page reading registrations because the
only every-view test on both databases had a tiny dataset. Here the Heart of England sample is
loaded once through the services (as `hub demo` does), its events are recorded as reporting
fetched them, and the same events are ingested into a fresh reporting on each database (on
PostgreSQL one in an en-GB collation whose rows are then partly rewritten, `lived_in`). The
routes come from the app's own route table and their path parameters from the data, so a route
added later is covered without editing this module (one with a parameter nobody can fill fails).
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import random
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from urllib.parse import parse_qs, urlencode

import httpx
import openpyxl
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import select, text

from harness.sample import SampleLoad, SampleWriter, activities, funding, partners
from services.reporting.app import build_service, create_app
from services.reporting.dashboard.auth import write_users_file
from services.reporting.ingest.apply import Incoming, PreparedBatch
from services.reporting.ingest.audit import StreamMessage
from services.reporting.ingest.consumer import ReportingService
from services.reporting.ingest.lanes import Staged
from services.reporting.models import AppliedEventRow, metadata
from services.reporting.read.catalogue import VIEWS
from services.reporting.read.views.evidence import _applied
from services.reporting.settings import ReportingSettings
from shared.nats_server import NatsServer
from shared.periods import academic_year, financial_year
from shared.settings import HubSettings
from tests.conftest import fresh_database
from tests.dashboard_helpers import USERS, text_of
from tests.helpers import System
from tests.test_cells import routes_of

NODES = ["coventry", "warwickshire", "solihull"]
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SKIPPED = {"/docs", "/openapi.json", "/asyncapi.json", "/metrics", "/health/live", "/health/ready"}
"""Routes that read no projection (documents, metrics, probes): nothing to compare."""
VARYING = {"issued"}
"""JSON keys that legitimately differ between two databases holding the same events: when a
360Giving package was issued (the time it was served, to the second), not what the events say.
The report stamp is compared: both databases applied the same events, so it must agree."""
UNLINKED = {
    "schools": ["hub", "coventry"],
    "inclusion": ["hub/fsm/yes", "coventry/send/ehcp"],
    "progression": ["hub/beginner/intermediate", "hub/none/beginner"],
    "continuation": ["hub", "coventry"],
    "partners": ["hub", "role/delivery_partner"],
    "allocation": ["coventry", "hub"],
}
"""Evidence no dashboard page links to (the API's views name no keys): keys of the shapes each
evidence documents (services/reporting/read/views/evidence_accountability.py)."""
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


# ----------------------------------------------------------------------------- the route table


def route_table() -> list[tuple[str, APIRoute]]:
    """The app's GET routes with their full paths (an app built only to read its table)."""
    with tempfile.TemporaryDirectory() as folder:
        settings = HubSettings(hub="routes", data_dir=Path(folder), nodes=NODES)
        app = create_app(build_service(settings, "", ReportingSettings()))
        return [
            (p, r) for p, r in routes_of(app) if "GET" in (r.methods or ()) and p not in SKIPPED
        ]


ROUTES = route_table()


def literal_choices(route: APIRoute) -> dict[str, list[str]]:
    """Path parameters typed as a Literal (a download's format): every choice."""
    return {
        p.name: list(get_args(p.field_info.annotation))
        for p in route.dependant.path_params
        if get_origin(p.field_info.annotation) is Literal
    }


def query_names(dependant: Dependant) -> set[str]:
    """Query parameters of a route and of its dependencies (the dashboard's page filters)."""
    return {p.name for p in dependant.query_params}.union(
        *(query_names(d) for d in dependant.dependencies)
    )


# ------------------------------------------------------------------- the sample, loaded once


@dataclass(frozen=True)
class Sample:
    hub: str
    events: list[Incoming]

    async def message(self, stream_seq: int) -> StreamMessage | None:
        """The hub stream's message (the event page reads it), as reporting fetched it."""
        found = [m for m in self.events if m.stream_seq == stream_seq]
        return (found[0].data, found[0].headers) if found else None


@pytest.fixture(scope="module")
async def sample_events(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> Sample:
    """The sample hub's events as reporting fetched them from the hub stream, in stream order."""
    settings = HubSettings(
        hub="t" + uuid.uuid4().hex[:10], data_dir=tmp_path_factory.mktemp("sample"), nodes=NODES
    )
    system = System(settings, nats_server.url)
    fetched: dict[int, Incoming] = {}
    prepare = system.reporting.prepare_fetched

    async def recording(batch: list[Incoming]) -> PreparedBatch | Staged:
        fetched.update((m.stream_seq, m) for m in batch)
        return await prepare(batch)

    # the consumer's callback for each fetched batch
    system.reporting.prepare_fetched = recording  # type: ignore[method-assign]
    await system.start()
    try:
        clients = {key: system.client(*key) for key in system.services}
        writer = SampleWriter(clients, SampleLoad(), random.Random(2025))  # type: ignore[arg-type]
        try:
            await partners.load(writer, NODES)
            await activities.load(writer, NODES, 6)
            await funding.load(writer, NODES)
        finally:
            for client in clients.values():
                await client.aclose()
        report = await system.report_when(
            lambda r: r.stamp.applied_events >= writer.load.total, timeout=60
        )
        assert report.stamp.applied_events == writer.load.total
        assert len(fetched) == writer.load.total  # every event recorded as it was fetched
    finally:
        await system.stop()
    return Sample(settings.hub, [fetched[seq] for seq in sorted(fetched)])


EN_GB = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-GB' LOCALE 'C.UTF-8'"
"""PostgreSQL's databases here collate as en-GB, as a UK deployment's would."""


# --------------------------------------------------------------- what the data fills routes with


@dataclass
class Fillings:
    """Values for path and query parameters, read from the projections: a few of each kind."""

    periods: list[str]
    """Academic years with delivery or money."""
    financial: list[str]
    """Financial years with money (asked of routes that take a period `kind`)."""
    entries: list[dict[str, str]]
    activities: list[str]
    organisations: list[str]
    events: list[str]
    areas: list[str]
    budgets: list[str]
    views: list[str] = field(default_factory=lambda: list(VIEWS))
    evidence: list[tuple[str, str]] = field(default_factory=list)
    """(view, key) of the figures traced: filled from the pages' links (`traced`)."""

    def path_values(self, path: str, names: set[str]) -> list[dict[str, str]]:
        """Every filling of the route's (non-Literal) path parameters; unknown ones fail."""
        one = {
            frozenset(): [{}],
            frozenset({"node", "entry_id"}): self.entries,
            frozenset({"ledger_node", "entry_id"}): [
                {"ledger_node": e["node"], "entry_id": e["entry_id"]} for e in self.entries
            ],
            frozenset({"activity_id"}): [{"activity_id": a} for a in self.activities],
            frozenset({"organisation_id"}): [{"organisation_id": o} for o in self.organisations],
            frozenset({"event_id"}): [{"event_id": e} for e in self.events],
            frozenset({"name"}): [
                {"name": n}
                for n in (self.areas if path.startswith("/dashboard/areas/") else self.views)
            ],
        }
        found = one.get(frozenset(names))
        if found is None:
            raise LookupError(f"{path}: nothing fills {sorted(names)}; add it to Fillings")
        return found

    def queries(self, names: set[str]) -> list[dict[str, str]]:
        """Query strings for a route's parameters that name something: each evidence view with
        the keys the pages link to; a grant's trail and every trail."""
        if {"view", "key"} <= names:
            return [{"view": v, "key": k} for v, k in self.evidence]
        if "entry" in names:
            return [{}] + [{"node": e["node"], "entry": e["entry_id"]} for e in self.entries]
        return [{}]

    def traced(self, links: set[tuple[str, str]]) -> None:
        """The figures the pages link to a trace of, a budget's key from the data (its page may
        link none) and UNLINKED: up to two keys of each evidence view."""
        by_view: dict[str, list[str]] = {}
        unlinked = [(v, k) for v, keys in UNLINKED.items() for k in keys]
        for view, key in sorted(links) + [("budget", b) for b in self.budgets] + unlinked:
            by_view.setdefault(view, []).append(key)
        self.evidence = [(v, k) for v, keys in by_view.items() for k in spread(keys, 2)]


def spread(values: list[str], most: int = 4) -> list[str]:
    """Up to `most` of `values`, from first to last (their order is the database's sort)."""
    if len(values) <= most:
        return values
    return [values[round(i * (len(values) - 1) / (most - 1))] for i in range(most)]


async def read_fillings(service: ReportingService) -> Fillings:
    async with service.read_sessions() as session:

        async def column(sql: str) -> list[str]:
            return [str(v) for v in (await session.execute(text(sql))).scalars()]

        money = [
            date.fromisoformat(d[:10])
            for d in await column("select entry_on from funding_entry_view")
        ]
        years = set(await column("select distinct academic_year from activity_view"))
        years |= {academic_year(d) for d in money}
        entries = (
            await session.execute(
                text(
                    "select node, min(entry_id) from funding_entry_view"
                    " group by node, kind order by node, kind"
                )
            )
        ).all()
        return Fillings(
            periods=sorted(years),
            financial=sorted({financial_year(d) for d in money}),
            entries=[{"node": n, "entry_id": e} for n, e in entries],
            activities=spread(await column("select activity_id from activity_view order by 1")),
            organisations=spread(
                await column("select organisation_id from organisation_view order by 1"), 6
            ),
            events=await column(
                "select min(event_id) from applied_event group by event_type order by 1"
            ),
            areas=await column("select distinct area from activity_view order by 1"),
            budgets=spread(
                await column(
                    "select distinct node || '/' || function || '/' || area"
                    " from funding_budget_view order by 1"
                ),
                2,
            ),
        )


def urls_of(path: str, route: APIRoute, fillings: Fillings) -> list[str]:
    """The route with its path filled every way, each with the queries `periods_of` gives."""
    choices = literal_choices(route)
    names = {p.name for p in route.dependant.path_params} - set(choices)
    paths = [path]
    for name, values in choices.items():
        paths = [p.replace("{" + name + "}", v) for p in paths for v in values]
    filled = []
    for values in fillings.path_values(path, names):
        for p in paths:
            for name, value in values.items():
                p = p.replace("{" + name + "}", value)
            filled.append(p)
    asked = query_names(route.dependant)
    queries = [
        {**q, **y}
        for q in fillings.queries(asked)
        for y in periods_of(asked, fillings, bool(names & ONE_THING or "entry" in q))
    ]
    return [f"{p}?{urlencode(q)}" if q else p for p in filled for q in queries]


ONE_THING = {"event_id", "entry_id", "organisation_id", "activity_id"}
"""Path parameters naming one record: its page is asked in the latest year only."""


def periods_of(asked: set[str], fillings: Fillings, one_thing: bool) -> list[dict[str, str]]:
    """Each academic year with data (financial ones too where a period `kind` is taken), and
    the latest narrowed to one node where the route can be; a record's page: the latest year."""
    year = sorted(asked & {"period", "academic_year"})[:1]
    if not year:
        return [{}]
    latest = {year[0]: fillings.periods[-1]}
    if one_thing:
        return [latest]
    periods = [{year[0]: y} for y in fillings.periods]
    if "kind" in asked:
        periods += [{"kind": "financial", year[0]: y} for y in fillings.financial]
    if "node" in asked:
        periods.append({**latest, "node": NODES[0]})
    return periods


# ------------------------------------------------------------------------- answers, normalised


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    """What is compared between the databases (`comparable`): JSON, CSV rows, each XLSX sheet's
    cell values, a page's text without its markup."""


def comparable(value: Any) -> Any:
    """An answer as compared: VARYING keys left out, and times as the
    instant they name (SQLite hands back `DateTime(timezone=True)` columns without their zone,
    so its answers write UTC times without the Z that PostgreSQL's carry)."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k not in VARYING}
    if isinstance(value, list | tuple):
        return [comparable(v) for v in value]
    if isinstance(value, str) and INSTANT.fullmatch(value):
        instant = datetime.fromisoformat(value)
        return (instant if instant.tzinfo else instant.replace(tzinfo=UTC)).isoformat()
    return value


def answer_of(response: httpx.Response) -> Answer:
    media = response.headers.get("content-type", "").split(";")[0]
    body: Any = None
    if response.status_code >= 400:
        body = response.text
    elif media == "application/json":
        body = comparable(response.json())
    elif media == "text/csv":
        body = comparable(list(csv.reader(io.StringIO(response.text))))
    elif media.endswith("spreadsheetml.sheet"):
        book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
        body = {s.title: comparable([list(r) for r in s.iter_rows(values_only=True)]) for s in book}
    elif media == "text/html":
        body = text_of(response.text)
    return Answer(response.status_code, body)


class Hubs:
    """The sample ingested into a fresh reporting on each database, every route's answers read
    once per database on first use (the module's tests share them)."""

    def __init__(self, sample: Sample, folder: Path) -> None:
        self.sample, self.folder = sample, folder
        self.answers: dict[str, dict[str, dict[str, Answer]]] = {}

    async def on(self, kind: str) -> dict[str, dict[str, Answer]]:
        if kind not in self.answers:
            folder = self.folder / kind
            folder.mkdir()
            async with fresh_database(kind, folder / "reporting.db", EN_GB) as url:
                self.answers[kind] = await self._read(url, folder)
        return self.answers[kind]

    async def _read(self, url: str, folder: Path) -> dict[str, dict[str, Answer]]:
        users, secret = folder / "users.json", folder / "secret"
        write_users_file(users, USERS)
        secret.write_text("test-secret")
        own = ReportingSettings(
            database_url=url, dashboard_users_file=users, dashboard_session_secret_file=secret
        )
        settings = HubSettings(hub=self.sample.hub, data_dir=folder, nodes=NODES)
        service = build_service(settings, "", own)
        service.hub_message = self.sample.message  # type: ignore[method-assign]
        await service.start(consume=False)
        try:
            outcome = await service.ingest(list(self.sample.events))
            assert outcome.applied == len(self.sample.events), outcome
            await lived_in(service)
            fillings = await read_fillings(service)
            async with manager(create_app(service)) as client:
                return await answers_of(client, fillings)
        finally:
            await service.stop()


async def answers_of(client: httpx.AsyncClient, fillings: Fillings) -> dict[str, dict[str, Answer]]:
    """Every route's answers, traces last: they follow the trace links the pages show."""
    traces = {p for p, r in ROUTES if {"view", "key"} <= query_names(r.dependant)}
    links: set[tuple[str, str]] = set()
    answers: dict[str, dict[str, Answer]] = {}
    for path, route in sorted(ROUTES, key=lambda pr: pr[0] in traces):
        if path in traces and not fillings.evidence:
            fillings.traced(links)
        answers[path] = {}
        for url in urls_of(path, route, fillings):
            response = await client.get(url)
            links |= trace_links(response)
            answers[path][url] = answer_of(response)
    return answers


TRACE_LINK = re.compile(r'href="/dashboard/trace\?([^"]+)"')


def trace_links(response: httpx.Response) -> set[tuple[str, str]]:
    """(view, key) of every trace a dashboard page links to."""
    if not response.headers.get("content-type", "").startswith("text/html"):
        return set()
    found = set()
    for query in TRACE_LINK.findall(response.text):
        asked = parse_qs(html.unescape(query))
        found.add((asked["view"][0], asked["key"][0]))
    return found


async def lived_in(service: ReportingService) -> None:
    """Rewrite half the rows of every table, as corrections and state changes do in a database
    that has lived: PostgreSQL then stores them after the rest, so a read that takes rows in the
    order the database stores them (ties of an ORDER BY, none at all) answers otherwise than
    SQLite, whose rows keep their place. Left out on SQLite: it would change nothing."""
    if service.engine.dialect.name == "sqlite":
        return
    async with service.sessions() as session, session.begin():
        for table in metadata.sorted_tables:
            first = table.primary_key.columns.values()[0].name if table.primary_key else None
            if first is None:
                continue
            await session.execute(
                text(
                    f'update "{table.name}" set "{first}" = "{first}"'
                    f" where md5(\"{first}\"::text || ctid::text) < '8'"
                )
            )


@contextlib.asynccontextmanager
async def manager(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The consortium manager signed in (as tests/dashboard_helpers.py does), a failing route
    answering 500 instead of raising, so one run reports every failing URL."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://reporting") as client:
        r = await client.post(
            "/dashboard/login",
            data={"username": "manager", "password": USERS["manager"][0], "next": "/dashboard/"},
        )
        assert r.status_code == 303, r.text
        yield client


@pytest.fixture(scope="module")
def hubs(sample_events: Sample, tmp_path_factory: pytest.TempPathFactory) -> Hubs:
    return Hubs(sample_events, tmp_path_factory.mktemp("hubs"))


# ----------------------------------------------------------------------------------- the tests

PATHS = [path for path, _ in ROUTES]


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("path", PATHS)
async def test_every_route_answers_on_each_database(hubs: Hubs, database: str, path: str) -> None:
    answers = (await hubs.on(database))[path]
    failing = {u: (a.status, a.body) for u, a in answers.items() if a.status != 200}
    assert answers and not failing, failing


@pytest.mark.postgres
@pytest.mark.parametrize("path", PATHS)
async def test_every_route_answers_alike_on_both_databases(hubs: Hubs, path: str) -> None:
    sqlite, postgres = (await hubs.on("sqlite"))[path], (await hubs.on("postgres"))[path]
    assert sqlite.keys() == postgres.keys()
    differing = {
        u: first_difference(sqlite[u], postgres[u]) for u in sqlite if sqlite[u] != postgres[u]
    }
    assert not differing, differing


def first_difference(a: Any, b: Any, where: str = "") -> str:
    """Where two answers first differ, and how (for a failure message a person can read)."""
    if isinstance(a, Answer) and isinstance(b, Answer):
        return first_difference((a.status, a.body), (b.status, b.body))
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{where}: keys {sorted(a.keys() ^ b.keys())}"
        return next(
            (first_difference(a[k], b[k], f"{where}/{k}") for k in a if a[k] != b[k]), where
        )
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        return next(
            (
                first_difference(x, y, f"{where}[{i}]")
                for i, (x, y) in enumerate(zip(a, b, strict=True))
                if x != y
            ),
            where,
        )
    if isinstance(a, str) and isinstance(b, str):  # a page's text: around where it differs
        at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), 0)
        a, b = a[max(at - 80, 0) : at + 120], b[max(at - 80, 0) : at + 120]
    return f"{where}: {a!r:.200} != {b!r:.200}"


# ------------------------------------------------------------- PostgreSQL defects found here


async def test_evidence_of_more_events_than_asyncpg_takes_parameters(
    sample_events: Sample, database_url: str, tmp_path: Path
) -> None:
    """A figure's evidence names each event behind it (a hub-wide pupil count ~50k): on
    PostgreSQL one `in_` parameter per event failed past asyncpg's 32,767. The events found are
    those a plain `in_` finds among the applied ones, whatever else is asked."""
    settings = HubSettings(hub=sample_events.hub, data_dir=tmp_path, nodes=NODES)
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    try:
        await service.ingest(list(sample_events.events))
        async with service.read_sessions() as session:
            applied = AppliedEventRow.__table__.c
            ids = list((await session.execute(select(applied.event_id))).scalars())
            plain = await session.execute(
                select(applied.event_id).where(applied.event_id.in_(ids)).order_by(applied.position)
            )
            unknown = {str(uuid.UUID(int=i)): 1 for i in range(40_000)}
            found = await _applied(session, {**unknown, **dict.fromkeys(ids, 1)}, {}, money=False)
        assert [e.event_id for e in found] == list(plain.scalars())
        assert len(found) == len(sample_events.events)
    finally:
        await service.stop()
