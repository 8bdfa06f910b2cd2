"""HTTP routes of the funding views (services/reporting/read/views/funding.py)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response

from services.reporting.deps import ReadSession
from services.reporting.read.exports import giving360
from services.reporting.read.views.funding import (
    ActivityPounds,
    AssetLine,
    BudgetLine,
    FollowStep,
    FundingBalance,
    PeriodSummary,
    TraceStep,
    TransferCheck,
    activity_funding,
    activity_pounds,
    asset_register,
    budget_vs_actual,
    follow,
    funding_balance,
    load_ledger,
    period_summary,
    transfer_checks,
    uses,
)
from shared.auth import Scope, declare, named_in_path

router = APIRouter(prefix="/funding", tags=["funding"])


@router.get(
    "/balance",
    response_model=FundingBalance,
    summary="Per source received = drawn + remaining; transfers reconciled",
)
@declare(Scope.HUB)
async def get_balance(request: Request, session: ReadSession) -> FundingBalance:
    return await funding_balance(session, request.app.state.reporting.settings.nodes)


@router.get(
    "/transfers",
    response_model=list[TransferCheck],
    summary="Both sides of every transfer, and what does not match",
)
@declare(Scope.HUB)
async def get_transfers(session: ReadSession) -> list[TransferCheck]:
    return await transfer_checks(session)


@router.get(
    "/budget", response_model=list[BudgetLine], summary="Budget against actual by function and area"
)
@declare(Scope.HUB)
async def get_budget(
    session: ReadSession, period: str, kind: Literal["academic", "financial"] = "academic"
) -> list[BudgetLine]:
    try:
        return await budget_vs_actual(session, kind, period)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get(
    "/summary",
    response_model=PeriodSummary,
    summary="Income by source and spend by function for a period",
)
@declare(Scope.HUB)
async def get_summary(
    session: ReadSession, period: str, kind: Literal["academic", "financial"] = "academic"
) -> PeriodSummary:
    try:
        return await period_summary(session, kind, period)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/assets", response_model=list[AssetLine], summary="The capital asset register")
@declare(Scope.HUB)
async def get_assets(session: ReadSession) -> list[AssetLine]:
    return await asset_register(session)


@router.get(
    "/activities/{activity_id}",
    response_model=list[list[TraceStep]],
    summary="Where an activity's money came from",
)
@declare(Scope.HUB)
async def get_activity_funding(activity_id: str, session: ReadSession) -> list[list[TraceStep]]:
    return await activity_funding(session, activity_id)


@router.get(
    "/uses/{node}/{entry_id}",
    response_model=list[list[TraceStep]],
    summary="Where a source's money went",
)
@declare(Scope.NODE, named_in_path)
async def get_uses(node: str, entry_id: str, session: ReadSession) -> list[list[TraceStep]]:
    ledger = await load_ledger(session)
    if (node, entry_id) not in ledger.entries:
        raise HTTPException(404, f"no entry {entry_id} at {node}")
    return uses(ledger, node, entry_id)


@router.get("/360giving.json", summary="Grants to partners, 360Giving JSON package")
@declare(Scope.HUB)
async def get_360giving_json(
    request: Request, session: ReadSession, prefix: str | None = None
) -> Response:
    settings = request.app.state.reporting.settings
    grants = await giving360.build_grants(session, prefix or settings.hub)
    package = giving360.package(grants, settings.hub, settings.display_name)
    return Response(giving360.to_json(package), media_type="application/json")


@router.get("/360giving.xlsx", summary="Grants to partners, 360Giving spreadsheet")
@declare(Scope.HUB)
async def get_360giving_xlsx(
    request: Request, session: ReadSession, prefix: str | None = None
) -> Response:
    grants = await giving360.build_grants(
        session, prefix or request.app.state.reporting.settings.hub
    )
    return Response(
        giving360.to_xlsx(grants),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@router.get(
    "/follow/{node}/{entry_id}",
    response_model=FollowStep,
    summary=(
        "A source followed down to every allocation, commission, spend and activity, reconciled "
        "at each step"
    ),
)
@declare(Scope.NODE, named_in_path)
async def get_follow(node: str, entry_id: str, session: ReadSession) -> FollowStep:
    ledger = await load_ledger(session)
    if (node, entry_id) not in ledger.entries:
        raise HTTPException(404, f"no entry {entry_id} at {node}")
    return follow(ledger, node, entry_id)


@router.get(
    "/activities/{activity_id}/pounds",
    response_model=ActivityPounds,
    summary="The pounds behind an activity and the income they came from",
)
@declare(Scope.HUB)
async def get_activity_pounds(activity_id: str, session: ReadSession) -> ActivityPounds:
    return activity_pounds(await load_ledger(session), activity_id)
