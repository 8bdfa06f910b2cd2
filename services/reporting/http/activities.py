"""HTTP routes of the activities views (services/reporting/read/views/activities.py)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from services.reporting.deps import ReadSession
from services.reporting.read.views.activities import (
    Dimension,
    Reach,
    ReturnRow,
    Year,
    partner_returns,
    reach,
)
from shared.auth import Scope, declare

router = APIRouter(prefix="/activities", tags=["activities"])


@router.get(
    "/reach",
    response_model=Reach,
    summary="Unique pupils and headcounts by area, kind, level or year group",
)
@declare(Scope.HUB)
async def get_reach(session: ReadSession, academic_year: Year, by: Dimension = "area") -> Reach:
    return await reach(session, academic_year, by)


@router.get(
    "/returns",
    response_model=list[ReturnRow],
    summary="Partner returns of a year: received, late, missing",
)
@declare(Scope.HUB)
async def get_returns(
    session: ReadSession, academic_year: Year, today: date | None = None
) -> list[ReturnRow]:
    return await partner_returns(session, academic_year, today or date.today())
