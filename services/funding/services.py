"""Use cases of the funding service."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from shared.contracts.funding import FundingLink, FundsAllocated, IncomeRecorded
from shared.contracts.vocabulary import FundingStream, IncomeSource, Pence
from shared.envelope import new_event_id, utcnow
from shared.identity import Slug
from shared.outbox import UnitOfWork
from services.funding.domain import SourceBalance, check_draws
from services.funding.models import FundingLinkRow, LedgerEntryRow


class RecordIncome(BaseModel):
    """Record money received: the DfE grant or income levered in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: IncomeSource
    funder: str = Field(min_length=1, max_length=200)
    stream: FundingStream
    amount_pence: Pence = Field(gt=0)
    received_on: date
    purpose: str | None = Field(default=None, max_length=500)


class Draw(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    entry_id: UUID
    amount_pence: Pence = Field(gt=0)


class AllocateFunds(BaseModel):
    """Pass money to another lead organisation, naming the entries it is drawn from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to_node: Slug
    stream: FundingStream
    amount_pence: Pence = Field(gt=0)
    allocated_on: date
    funded_from: list[Draw] = Field(min_length=1)


async def record_income(cmd: RecordIncome, uow: UnitOfWork) -> UUID:
    entry_id = new_event_id()
    async with uow:
        uow.session.add(
            LedgerEntryRow(
                entry_id=str(entry_id),
                kind="income",
                stream=cmd.stream,
                amount_pence=cmd.amount_pence,
                counterparty=cmd.funder,
                source=cmd.source,
                entry_on=cmd.received_on,
                recorded_at=utcnow(),
            )
        )
        await uow.emit(IncomeRecorded(entry_id=entry_id, **cmd.model_dump()))
        await uow.commit()
    return entry_id


async def allocate_funds(cmd: AllocateFunds, uow: UnitOfWork) -> UUID:
    entry_id = new_event_id()
    draws: dict[str, int] = {}
    for draw in cmd.funded_from:
        draws[str(draw.entry_id)] = draws.get(str(draw.entry_id), 0) + draw.amount_pence
    async with uow:
        check_draws(cmd.amount_pence, cmd.stream, draws, await _balances(uow, list(draws)))
        uow.session.add(
            LedgerEntryRow(
                entry_id=str(entry_id),
                kind="allocation",
                stream=cmd.stream,
                amount_pence=cmd.amount_pence,
                counterparty=cmd.to_node,
                source=None,
                entry_on=cmd.allocated_on,
                recorded_at=utcnow(),
            )
        )
        await uow.session.flush()
        uow.session.add_all(
            FundingLinkRow(entry_id=str(entry_id), source_entry_id=source, amount_pence=amount)
            for source, amount in draws.items()
        )
        await uow.emit(
            FundsAllocated(
                entry_id=entry_id,
                to_node=cmd.to_node,
                stream=cmd.stream,
                amount_pence=cmd.amount_pence,
                allocated_on=cmd.allocated_on,
                funded_from=tuple(FundingLink(entry_id=UUID(s), amount_pence=a) for s, a in draws.items()),
            )
        )
        await uow.commit()
    return entry_id


async def _balances(uow: UnitOfWork, entry_ids: list[str]) -> dict[str, SourceBalance]:
    """Current balance of each named source, read inside the writing transaction."""
    drawn = (
        select(FundingLinkRow.source_entry_id, func.sum(FundingLinkRow.amount_pence).label("drawn"))
        .where(FundingLinkRow.source_entry_id.in_(entry_ids))
        .group_by(FundingLinkRow.source_entry_id)
        .subquery()
    )
    rows = await uow.session.execute(
        select(LedgerEntryRow.entry_id, LedgerEntryRow.stream, LedgerEntryRow.amount_pence, drawn.c.drawn)
        .outerjoin(drawn, drawn.c.source_entry_id == LedgerEntryRow.entry_id)
        .where(LedgerEntryRow.entry_id.in_(entry_ids))
    )
    return {
        r.entry_id: SourceBalance(r.entry_id, FundingStream(r.stream), int(r.amount_pence), int(r.drawn or 0))
        for r in rows
    }


async def list_entries(uow: UnitOfWork) -> list[LedgerEntryRow]:
    async with uow:
        return list((await uow.session.scalars(select(LedgerEntryRow).order_by(LedgerEntryRow.entry_on))).all())
