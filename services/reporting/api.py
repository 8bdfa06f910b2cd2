"""HTTP routes of the reporting service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.queries import HubReport, ProducerHealth, data_health, hub_report
from services.reporting.views.activities import router as activities_router

router = APIRouter(prefix="/report", tags=["report"])


async def read_session(request: Request):  # type: ignore[no-untyped-def]
    async with request.app.state.reporting.read_sessions() as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(read_session)]


@router.get("", response_model=HubReport, summary="Hub-wide figures by node, stamped with the stream position")
async def get_report(request: Request, session: ReadSession) -> HubReport:
    settings = request.app.state.reporting.settings
    return await hub_report(session, settings.hub, settings.nodes)


@router.get("/data-health", response_model=list[ProducerHealth], summary="Last event and sequence gaps per producer")
async def get_data_health(session: ReadSession) -> list[ProducerHealth]:
    return await data_health(session)


router.include_router(activities_router)
