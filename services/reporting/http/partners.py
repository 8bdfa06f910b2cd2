"""HTTP routes of the partners views (services/reporting/read/views/partners.py)."""

from __future__ import annotations

from fastapi import APIRouter

from services.reporting.deps import ReadSession
from services.reporting.read.views.partners import OrganisationsReport, organisations_report
from shared.auth import Scope, declare

router = APIRouter(tags=["report"])


@router.get(
    "/organisations",
    response_model=OrganisationsReport,
    summary="Distinct organisations by role, area, function and state; settings per area",
)
@declare(Scope.HUB)
async def get_organisations_report(
    session: ReadSession,
) -> OrganisationsReport:
    return await organisations_report(session)
