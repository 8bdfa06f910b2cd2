"""HTTP routes of the funding service."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from shared.node_service import UnitOfWorkDep
from services.funding.services import AllocateFunds, RecordIncome, allocate_funds, list_entries, record_income

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


@router.post("/income", status_code=201, response_model=Entry, summary="Record income received")
async def post_income(cmd: RecordIncome, uow: UnitOfWorkDep) -> Entry:
    return Entry(entry_id=await record_income(cmd, uow))


@router.post("/allocations", status_code=201, response_model=Entry, summary="Allocate funds to another lead organisation")
async def post_allocation(cmd: AllocateFunds, uow: UnitOfWorkDep) -> Entry:
    return Entry(entry_id=await allocate_funds(cmd, uow))


@router.get("/entries", response_model=list[EntryOut], summary="This node's ledger")
async def get_entries(uow: UnitOfWorkDep) -> list[EntryOut]:
    return [EntryOut.model_validate(row, from_attributes=True) for row in await list_entries(uow)]
