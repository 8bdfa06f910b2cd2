"""HTTP routes of the catalogue of views, their exports,
the evidence behind a figure and the audit."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from services.reporting.deps import ReadSession
from services.reporting.ingest.audit import AuditResult, verify
from services.reporting.read.catalogue import VIEWS, run_view, view_scope
from services.reporting.read.exports.registry import EXPORTERS
from services.reporting.read.exports.sheets import sheet, to_csv, to_xlsx
from services.reporting.read.exports.tables import to_json
from services.reporting.read.params import Filters, ViewParams
from services.reporting.read.queries import stamp_header
from services.reporting.read.views.evidence import Evidence, EvidenceView, evidence, evidence_ask
from shared.auth import Ask, Scope, declare, effective, named_by_filters
from shared.periods import PeriodKind

router = APIRouter(tags=["report"])
"""Included under /report by the reporting API."""

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Period = Annotated[
    str | None,
    Query(pattern=r"^\d{4}-\d{2}$", description="e.g. 2024-25; default the last academic year."),
]


def view_asks(request: Request) -> Ask:
    """A view or export names a node and area by its filters, and takes its view's scope."""
    return replace(named_by_filters(request), scope=view_scope(request.path_params.get("name", "")))


def evidence_asks(request: Request) -> Ask:
    """What the evidence's key names, and the node its events are narrowed to (``?node=``)."""
    ask = evidence_ask(request.query_params.get("view", ""), request.query_params.get("key", ""))
    node = request.query_params.get("node") or None
    return replace(ask, node=node) if node and ask.own_by_default else ask


def params(
    request: Request,
    period: str | None,
    kind: PeriodKind,
    node: str | None,
    area: str | None,
    function: str | None,
    aim: str | None,
    today: date | None,
    threshold: int,
) -> ViewParams:
    """The view's parameters, narrowed as the access policy narrows the caller
    (node staff: their node)."""
    settings = request.app.state.reporting.settings
    principal = getattr(request.state, "principal", None)
    name = request.path_params.get("name", "")
    node = effective(principal, view_scope(name), Ask(node=node, own_by_default=True)).node
    try:
        return ViewParams(
            hub=settings.hub,
            nodes=settings.nodes,
            period=period or ViewParams.default_period(today),
            kind=kind,
            filters=Filters(node=node, area=area, function=function, aim=aim),
            today=today or date.today(),
            threshold=threshold,
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


async def _run(session: ReadSession, name: str, p: ViewParams) -> Any:
    if name not in VIEWS:
        raise HTTPException(404, f"no view {name!r}; views: {', '.join(VIEWS)}")
    return await run_view(session, name, p)


def _stamped(result: Any) -> dict[str, str]:
    """Responses built here bypass the router's stamp header, so they carry the view's own stamp."""
    return {"X-Report-Stamp": stamp_header(result.stamp)}


@router.get("/views", summary="Every view by name, with what it answers")
@declare(Scope.PUBLISHED)
async def list_views() -> dict[str, str]:
    return {name: spec.summary for name, spec in VIEWS.items()}


@router.get(
    "/views/{name}", summary="One view as JSON, stamped with the stream position it reflects"
)
@declare(Scope.NODE, view_asks)
async def get_view(
    request: Request,
    session: ReadSession,
    name: str,
    period: Period = None,
    kind: PeriodKind = "academic",
    node: str | None = None,
    area: str | None = None,
    function: str | None = None,
    aim: str | None = None,
    today: date | None = None,
    threshold: Annotated[int, Query(ge=1)] = 10,
) -> Any:
    result = await _run(
        session, name, params(request, period, kind, node, area, function, aim, today, threshold)
    )
    return Response(to_json(result), media_type="application/json", headers=_stamped(result))


@router.get(
    "/export/{name}",
    summary="One view as JSON, CSV (one table) or XLSX (a sheet per table); for people: pounds "
    "with the unit in each header, names beside ids",
)
@declare(Scope.NODE, view_asks)
async def export_view(
    request: Request,
    session: ReadSession,
    name: str,
    format: Literal["json", "csv", "xlsx"] = "xlsx",
    table_name: Annotated[str | None, Query(alias="table")] = None,
    period: Period = None,
    kind: PeriodKind = "academic",
    node: str | None = None,
    area: str | None = None,
    function: str | None = None,
    aim: str | None = None,
    today: date | None = None,
    threshold: Annotated[int, Query(ge=1)] = 10,
) -> Response:
    p = params(request, period, kind, node, area, function, aim, today, threshold)
    result = await _run(session, name, p)
    filename = f"{name}-{p.period}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', **_stamped(result)}
    if format == "json":
        return Response(to_json(result), media_type="application/json", headers=headers)
    sheets = await EXPORTERS[f"view:{name}"].load(session, p)
    if format == "xlsx":
        return Response(to_xlsx(sheets), media_type=XLSX, headers=headers)
    try:
        return Response(to_csv(sheet(sheets, table_name)), media_type="text/csv", headers=headers)
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from exc


@router.get("/evidence", response_model=Evidence, summary="The applied events behind one figure")
@declare(Scope.NODE, evidence_asks)
async def get_evidence(
    request: Request,
    session: ReadSession,
    view: EvidenceView,
    key: Annotated[
        str,
        Query(
            description="area, source, function, node, partner; 'hub' for all; "
            "budget: node/function/area; inclusion: area/characteristic/"
            "value; progression: area/from/to; partners: hub or "
            "role|area|function/<value>"
        ),
    ],
    period: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
    kind: PeriodKind = "academic",
    node: Annotated[
        str | None,
        Query(
            description="pupils, wcet, headcount: one node's delivery "
            "(node staff: always their own)"
        ),
    ] = None,
) -> Evidence:
    asked = effective(getattr(request.state, "principal", None), Scope.NODE, evidence_asks(request))
    try:
        return await evidence(session, view, key, period, kind, asked.node)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get(
    "/audit",
    response_model=AuditResult,
    summary="Verify the hash chain and projection references (no stream)",
)
@declare(Scope.HUB)
async def get_audit(session: ReadSession) -> AuditResult:
    return await verify(session)
