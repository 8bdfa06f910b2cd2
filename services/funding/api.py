"""HTTP routes of the funding service."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from services.funding import services as uc
from shared.node_service import UnitOfWorkDep

router = APIRouter(tags=["ledger"])


class Entry(BaseModel):
    entry_id: UUID


class EntryOut(BaseModel):
    entry_id: UUID
    kind: str
    stream: str
    amount_pence: int
    counterparty: str
    source: str | None
    entry_on: date
    function: str | None = None
    area: str | None = None
    reverses_entry_id: UUID | None = None
    sign: int = 1


@router.post("/income", status_code=201, response_model=Entry, summary="Record income received")
async def post_income(cmd: uc.RecordIncome, uow: UnitOfWorkDep) -> Entry:
    return Entry(entry_id=await uc.record_income(cmd, uow))


@router.post(
    "/allocations",
    status_code=201,
    response_model=Entry,
    summary="Allocate funds to another lead organisation",
)
async def post_allocation(cmd: uc.AllocateFunds, uow: UnitOfWorkDep) -> Entry:
    return Entry(entry_id=await uc.allocate_funds(cmd, uow))


@router.post(
    "/received",
    status_code=201,
    response_model=Entry,
    summary="Record funds received from another node",
)
async def post_received(cmd: uc.ReceiveFunds, uow: UnitOfWorkDep) -> Entry:
    return Entry(entry_id=await uc.receive_funds(cmd, uow))


@router.post(
    "/commissions", status_code=201, response_model=Entry, summary="Commission a delivery partner"
)
async def post_commission(cmd: uc.CommissionPartner, uow: UnitOfWorkDep) -> Entry:
    return Entry(entry_id=await uc.commission_partner(cmd, uow))


@router.post(
    "/expenditure",
    status_code=201,
    response_model=Entry,
    summary="Record spend, remissions and capital purchases",
)
async def post_expenditure(cmd: uc.RecordExpenditure, uow: UnitOfWorkDep) -> Entry:
    return Entry(entry_id=await uc.record_expenditure(cmd, uow))


@router.post(
    "/reversals", status_code=201, response_model=Entry, summary="Reverse an entry (or a reversal)"
)
async def post_reversal(cmd: uc.ReverseEntry, uow: UnitOfWorkDep) -> Entry:
    return Entry(entry_id=await uc.reverse_entry(cmd, uow))


@router.post(
    "/budgets", status_code=201, summary="Set the budget of a function and area for a period"
)
async def post_budget(cmd: uc.SetBudget, uow: UnitOfWorkDep) -> dict[str, str]:
    await uc.set_budget(cmd, uow)
    return {"status": "set"}


@router.get("/entries", response_model=list[EntryOut], summary="This node's ledger")
async def get_entries(uow: UnitOfWorkDep) -> list[EntryOut]:
    return [
        EntryOut.model_validate(row, from_attributes=True) for row in await uc.list_entries(uow)
    ]


@router.get(
    "/sources", response_model=list[uc.SourceLeft], summary="Each source: held, drawn, remaining"
)
async def get_sources(uow: UnitOfWorkDep) -> list[uc.SourceLeft]:
    return await uc.source_balances(uow)
