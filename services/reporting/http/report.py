"""HTTP routes of the reporting service."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from services.reporting.deps import ReadSession
from services.reporting.http.activities import router as activities_router
from services.reporting.http.funding import router as funding_router
from services.reporting.http.partners import router as partners_router
from services.reporting.http.views import router as views_router
from services.reporting.read.queries import (
    HubReport,
    ProducerHealth,
    data_health,
    hub_report,
    report_stamp,
    stamp_header,
)
from shared.auth import Scope, declare

STAMP_HEADER = "X-Report-Stamp"


async def stamp_response(response: Response, session: ReadSession) -> None:
    """Every report response says which stream position it reflects, whatever its body."""
    response.headers[STAMP_HEADER] = stamp_header(await report_stamp(session))


router = APIRouter(prefix="/report", tags=["report"], dependencies=[Depends(stamp_response)])


@router.get(
    "",
    response_model=HubReport,
    summary="Hub-wide figures by node, stamped with the stream position",
)
@declare(Scope.HUB)
async def get_report(request: Request, session: ReadSession) -> HubReport:
    settings = request.app.state.reporting.settings
    return await hub_report(session, settings.hub, settings.nodes)


@router.get(
    "/data-health",
    response_model=list[ProducerHealth],
    summary="Last event and sequence gaps per producer",
)
@declare(Scope.HUB)
async def get_data_health(session: ReadSession) -> list[ProducerHealth]:
    return await data_health(session)


for view_router in (partners_router, activities_router, funding_router, views_router):
    router.include_router(view_router)
