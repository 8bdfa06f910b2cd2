"""HTTP routes of the activities service."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from services.activities.services import (
    CorrectActivity,
    ExpectReturn,
    ImportOutcome,
    ImportRegister,
    RecordActivity,
    RecordParticipation,
    ReturnLine,
    SubmitReturn,
    Withdraw,
    WithdrawParticipations,
    correct_activity,
    expect_return,
    import_register,
    list_activities,
    record_activity,
    record_participation,
    return_statuses,
    submit_return,
    withdraw_activity,
    withdraw_participations,
)
from shared.node_service import UnitOfWorkDep
from shared.pseudonym import Pseudonymiser

router = APIRouter(prefix="/activities", tags=["activities"])
returns_router = APIRouter(prefix="/returns", tags=["partner returns"])


def pseudonymiser(request: Request) -> Pseudonymiser:
    found: Pseudonymiser = request.app.state.pseudonymiser
    return found


PseudonymiserDep = Annotated[Pseudonymiser, Depends(pseudonymiser)]


class Recorded(BaseModel):
    activity_id: UUID


class Imported(BaseModel):
    activities_added: int
    activities_existing: int
    participations_added: int
    participations_existing: int
    events: int


class Withdrawn(BaseModel):
    withdrawn: int


class ReturnRecorded(BaseModel):
    return_id: UUID
    new: bool


class ActivityOut(RecordActivity):
    activity_id: UUID
    academic_year: str | None = None
    withdrawn: bool = False


def _imported(outcome: ImportOutcome) -> Imported:
    return Imported(**asdict(outcome))


@router.post("", status_code=201, response_model=Recorded, summary="Record a delivered activity")
async def post_activity(cmd: RecordActivity, uow: UnitOfWorkDep) -> Recorded:
    return Recorded(activity_id=await record_activity(cmd, uow))


@router.get("", response_model=list[ActivityOut], summary="Activities recorded at this node")
async def get_activities(uow: UnitOfWorkDep) -> list[ActivityOut]:
    fields = set(ActivityOut.model_fields)
    return [
        ActivityOut.model_validate(
            {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key in fields}
        )
        for row in await list_activities(uow)
    ]


@router.post(
    "/register",
    status_code=201,
    response_model=Imported,
    summary=(
        "Import register rows (activities with headcounts, or pupils by UPN) in one transaction"
    ),
)
async def post_register(
    cmd: ImportRegister, uow: UnitOfWorkDep, keys: PseudonymiserDep
) -> Imported:
    return _imported(await import_register(cmd, uow, keys))


@router.post(
    "/{activity_id}/participants",
    status_code=201,
    response_model=Imported,
    summary="Record pupils in an activity (by UPN; only pseudonyms are published)",
)
async def post_participants(
    activity_id: UUID, cmd: RecordParticipation, uow: UnitOfWorkDep, keys: PseudonymiserDep
) -> Imported:
    return _imported(await record_participation(activity_id, cmd, uow, keys))


@router.post(
    "/{activity_id}/participants/withdraw",
    response_model=Withdrawn,
    summary="Withdraw pupils recorded in an activity by mistake",
)
async def post_withdraw_participants(
    activity_id: UUID, cmd: WithdrawParticipations, uow: UnitOfWorkDep
) -> Withdrawn:
    return Withdrawn(withdrawn=await withdraw_participations(activity_id, cmd, uow))


@router.post(
    "/{activity_id}/correct",
    status_code=204,
    summary="Replace an activity's record with a corrected one",
)
async def post_correct(activity_id: UUID, cmd: CorrectActivity, uow: UnitOfWorkDep) -> None:
    await correct_activity(activity_id, cmd, uow)


@router.post(
    "/{activity_id}/withdraw", status_code=204, summary="Withdraw an activity recorded by mistake"
)
async def post_withdraw(activity_id: UUID, cmd: Withdraw, uow: UnitOfWorkDep) -> None:
    await withdraw_activity(activity_id, cmd, uow)


@returns_router.post(
    "/expected",
    status_code=201,
    response_model=ExpectReturn,
    summary="A partner owes a return for a year by a date",
)
async def post_expected(cmd: ExpectReturn, uow: UnitOfWorkDep) -> ExpectReturn:
    await expect_return(cmd, uow)
    return cmd


@returns_router.post(
    "", status_code=201, response_model=ReturnRecorded, summary="Record a partner's return"
)
async def post_return(cmd: SubmitReturn, uow: UnitOfWorkDep) -> ReturnRecorded:
    return_id, new = await submit_return(cmd, uow)
    return ReturnRecorded(return_id=return_id, new=new)


@returns_router.get(
    "", response_model=list[ReturnLine], summary="Returns of a year: received, late, missing or due"
)
async def get_returns(
    uow: UnitOfWorkDep,
    academic_year: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
    today: date | None = None,
) -> list[ReturnLine]:
    return await return_statuses(academic_year, today or date.today(), uow)
