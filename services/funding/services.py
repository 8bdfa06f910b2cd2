"""Use cases of the funding service: each records one ledger entry and publishes it,
links and all."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select

from services.funding.domain import SourceBalance, check_draws, plan_reversal
from services.funding.models import BudgetRow, FundingLinkRow, LedgerEntryRow
from shared.contracts import EventPayload
from shared.contracts.funding import (
    FLOW_KINDS,
    Asset,
    BudgetSet,
    EntryKind,
    EntryReversed,
    ExpenditureRecorded,
    FundingLink,
    FundsAllocated,
    FundsReceived,
    IncomeRecorded,
    PartnerCommissioned,
    PeriodKind,
    RemissionReason,
    SignedLink,
    SpendCategory,
)
from shared.contracts.vocabulary import FundingStream, IncomeSource, Pence, StrategicFunction
from shared.envelope import new_event_id, utcnow
from shared.errors import NotFound, Refused
from shared.identity import Slug
from shared.outbox import UnitOfWork
from shared.periods import parse_period


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RecordIncome(Command):
    """Record money received: the DfE grant or income levered in."""

    source: IncomeSource
    funder: str = Field(min_length=1, max_length=200)
    stream: FundingStream
    amount_pence: Pence = Field(gt=0)
    received_on: date
    purpose: str | None = Field(default=None, max_length=500)
    area: str | None = Field(default=None, max_length=40)
    stream_restricted: bool = True


class Draw(Command):
    entry_id: UUID
    amount_pence: Pence = Field(gt=0)


class Flow(Command):
    """Fields every outgoing flow has: what it is, how much, and the sources it draws on."""

    stream: FundingStream
    amount_pence: Pence = Field(gt=0)
    funded_from: list[Draw] = Field(min_length=1)

    def draws(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for draw in self.funded_from:
            total[str(draw.entry_id)] = total.get(str(draw.entry_id), 0) + draw.amount_pence
        return total


class AllocateFunds(Flow):
    """Pass money to another lead organisation, naming the entries it is drawn from."""

    to_node: Slug
    allocated_on: date
    purpose: str | None = Field(default=None, max_length=500)


class ReceiveFunds(Command):
    """The receiver's record of a transfer: names the sender's node and entry."""

    from_node: Slug
    sender_entry_id: UUID
    stream: FundingStream
    amount_pence: Pence = Field(gt=0)
    received_on: date


class CommissionPartner(Flow):
    """Commission a delivery partner (from the partners register) for named work."""

    recipient_organisation_id: UUID
    recipient_org_id: str | None = Field(default=None, max_length=64)
    recipient_name: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=200)
    function: StrategicFunction
    area: str = Field(min_length=1, max_length=40)
    activity_ids: list[UUID] = []
    commissioned_on: date


class RecordExpenditure(Flow):
    """Spend: staff, delivery, equipment, venues, CPD, management, or a remission of fees."""

    category: SpendCategory
    function: StrategicFunction
    area: str = Field(min_length=1, max_length=40)
    description: str = Field(min_length=1, max_length=500)
    payee: str = Field(min_length=1, max_length=200)
    activity_ids: list[UUID] = []
    spent_on: date
    remission_reason: RemissionReason | None = None
    asset: Asset | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RecordExpenditure:
        if (self.category == SpendCategory.REMISSION) != (self.remission_reason is not None):
            raise ValueError("remission_reason is required for, and only for, category 'remission'")
        if self.asset is not None and self.stream != FundingStream.CAPITAL:
            raise ValueError("only capital purchases join the asset register")
        return self


class ReverseEntry(Command):
    """Undo an entry (or a reversal) by a new entry naming it."""

    entry_id: UUID
    reversed_on: date
    reason: str = Field(min_length=1, max_length=500)


class SetBudget(Command):
    """Plan spend for a strategic function and area in an academic or financial year."""

    period_kind: PeriodKind
    period: str
    function: StrategicFunction
    area: str = Field(min_length=1, max_length=40)
    amount_pence: Pence

    @model_validator(mode="after")
    def _period(self) -> SetBudget:
        parse_period(self.period, self.period_kind.value)
        return self


def _row(
    entry_id: UUID,
    kind: EntryKind,
    stream: str,
    amount: int,
    counterparty: str,
    on: date,
    **extra: Any,
) -> LedgerEntryRow:
    return LedgerEntryRow(
        entry_id=str(entry_id),
        kind=kind.value,
        stream=stream,
        amount_pence=amount,
        counterparty=counterparty,
        entry_on=on,
        recorded_at=utcnow(),
        sign=extra.pop("sign", 1),
        details=extra.pop("details", {}),
        stream_restricted=extra.pop("stream_restricted", True),
        **extra,
    )


async def _store(
    uow: UnitOfWork, row: LedgerEntryRow, links: dict[str, int], event: EventPayload
) -> UUID:
    uow.session.add(row)
    await uow.session.flush()
    uow.session.add_all(
        FundingLinkRow(entry_id=row.entry_id, source_entry_id=s, amount_pence=a)
        for s, a in links.items()
    )
    await uow.emit(event)
    await uow.commit()
    return UUID(row.entry_id)


def _links(draws: dict[str, int]) -> tuple[FundingLink, ...]:
    return tuple(FundingLink(entry_id=UUID(s), amount_pence=a) for s, a in draws.items())


async def record_income(cmd: RecordIncome, uow: UnitOfWork) -> UUID:
    entry_id = new_event_id()
    async with uow:
        row = _row(
            entry_id,
            EntryKind.INCOME,
            cmd.stream,
            cmd.amount_pence,
            cmd.funder,
            cmd.received_on,
            source=cmd.source,
            purpose=cmd.purpose,
            area=cmd.area,
            stream_restricted=cmd.stream_restricted,
        )
        return await _store(uow, row, {}, IncomeRecorded(entry_id=entry_id, **cmd.model_dump()))


async def receive_funds(cmd: ReceiveFunds, uow: UnitOfWork) -> UUID:
    """Record an allocation's arrival, once: a retried request must not receive the money twice."""
    entry_id = new_event_id()
    async with uow:
        e = LedgerEntryRow
        already = await uow.session.scalar(
            select(e.entry_id).where(
                e.kind == EntryKind.RECEIVED,
                e.counterparty == cmd.from_node,
                e.counterpart_entry_id == str(cmd.sender_entry_id),
            )
        )
        if already is not None:
            raise Refused(
                "already received",
                {"sender_entry_id": f"allocation already recorded as entry {already}"},
            )
        row = _row(
            entry_id,
            EntryKind.RECEIVED,
            cmd.stream,
            cmd.amount_pence,
            cmd.from_node,
            cmd.received_on,
            counterpart_entry_id=str(cmd.sender_entry_id),
        )
        return await _store(uow, row, {}, FundsReceived(entry_id=entry_id, **cmd.model_dump()))


async def allocate_funds(cmd: AllocateFunds, uow: UnitOfWork) -> UUID:
    entry_id, draws = new_event_id(), cmd.draws()
    async with uow:
        check_draws(cmd.amount_pence, cmd.stream, draws, await _balances(uow, list(draws)))
        row = _row(
            entry_id,
            EntryKind.ALLOCATION,
            cmd.stream,
            cmd.amount_pence,
            cmd.to_node,
            cmd.allocated_on,
            purpose=cmd.purpose,
        )
        event = FundsAllocated(
            entry_id=entry_id,
            to_node=cmd.to_node,
            stream=cmd.stream,
            amount_pence=cmd.amount_pence,
            allocated_on=cmd.allocated_on,
            funded_from=_links(draws),
            purpose=cmd.purpose,
        )
        return await _store(uow, row, draws, event)


async def commission_partner(cmd: CommissionPartner, uow: UnitOfWork) -> UUID:
    entry_id, draws = new_event_id(), cmd.draws()
    async with uow:
        check_draws(
            cmd.amount_pence, cmd.stream, draws, await _balances(uow, list(draws)), cmd.area
        )
        details = {
            "recipient_organisation_id": str(cmd.recipient_organisation_id),
            "recipient_org_id": cmd.recipient_org_id,
            "title": cmd.title,
            "activity_ids": [str(a) for a in cmd.activity_ids],
        }
        row = _row(
            entry_id,
            EntryKind.COMMISSION,
            cmd.stream,
            cmd.amount_pence,
            cmd.recipient_name,
            cmd.commissioned_on,
            function=cmd.function,
            area=cmd.area,
            purpose=cmd.title,
            details=details,
        )
        payload = cmd.model_dump(exclude={"funded_from"})
        return await _store(
            uow,
            row,
            draws,
            PartnerCommissioned(entry_id=entry_id, funded_from=_links(draws), **payload),
        )


async def record_expenditure(cmd: RecordExpenditure, uow: UnitOfWork) -> UUID:
    entry_id, draws = new_event_id(), cmd.draws()
    async with uow:
        check_draws(
            cmd.amount_pence, cmd.stream, draws, await _balances(uow, list(draws)), cmd.area
        )
        details = {
            "category": cmd.category,
            "activity_ids": [str(a) for a in cmd.activity_ids],
            "remission_reason": cmd.remission_reason,
            "asset": cmd.asset.model_dump() if cmd.asset else None,
        }
        row = _row(
            entry_id,
            EntryKind.EXPENDITURE,
            cmd.stream,
            cmd.amount_pence,
            cmd.payee,
            cmd.spent_on,
            function=cmd.function,
            area=cmd.area,
            purpose=cmd.description,
            details=details,
        )
        payload = cmd.model_dump(exclude={"funded_from"})
        return await _store(
            uow,
            row,
            draws,
            ExpenditureRecorded(entry_id=entry_id, funded_from=_links(draws), **payload),
        )


async def reverse_entry(cmd: ReverseEntry, uow: UnitOfWork) -> UUID:
    """Cancel an entry, or reinstate one by reversing its reversal;
    what a flow drew is freed or drawn again."""
    entry_id = new_event_id()
    async with uow:
        target = await uow.session.get(LedgerEntryRow, str(cmd.entry_id))
        if target is None:
            raise NotFound("no such entry", {"entry_id": f"no entry {cmd.entry_id} in this ledger"})
        original = (
            target
            if target.original_entry_id is None
            else await uow.session.get_one(LedgerEntryRow, target.original_entry_id)
        )
        await _lock(uow, [original.entry_id])  # every reversal in a chain locks its original first
        kind = EntryKind(original.kind)
        links = {
            r.source_entry_id: int(r.amount_pence)
            for r in await uow.session.scalars(
                select(FundingLinkRow).where(FundingLinkRow.entry_id == original.entry_id)
            )
        }
        reversed_by = await uow.session.scalar(
            select(LedgerEntryRow.entry_id).where(
                LedgerEntryRow.reverses_entry_id == target.entry_id
            )
        )
        drawn = (await _balances(uow, [original.entry_id]))[original.entry_id].drawn_pence
        plan = plan_reversal(
            target.sign, target.kind == EntryKind.REVERSAL, reversed_by, kind, links, drawn
        )
        if plan.sign > 0 and kind in FLOW_KINDS:
            check_draws(
                original.amount_pence,
                FundingStream(original.stream),
                plan.links,
                await _balances(uow, list(plan.links)),
                original.area,
            )
        row = _row(
            entry_id,
            EntryKind.REVERSAL,
            original.stream,
            original.amount_pence,
            original.counterparty,
            cmd.reversed_on,
            purpose=cmd.reason,
            reverses_entry_id=target.entry_id,
            original_entry_id=original.entry_id,
            sign=plan.sign,
        )
        event = EntryReversed(
            entry_id=entry_id,
            reverses_entry_id=cmd.entry_id,
            original_entry_id=UUID(original.entry_id),
            original_kind=kind,
            sign=plan.sign,
            stream=FundingStream(original.stream),
            amount_pence=original.amount_pence,
            reversed_on=cmd.reversed_on,
            reason=cmd.reason,
            funded_from=tuple(
                SignedLink(entry_id=UUID(s), amount_pence=a) for s, a in plan.links.items()
            ),
        )
        return await _store(uow, row, plan.links, event)


async def set_budget(cmd: SetBudget, uow: UnitOfWork) -> None:
    async with uow:
        uow.session.add(BudgetRow(recorded_at=utcnow(), **cmd.model_dump()))
        await uow.emit(BudgetSet(**cmd.model_dump()))
        await uow.commit()


async def _lock(uow: UnitOfWork, entry_ids: list[str]) -> None:
    """Row-lock the entries (PostgreSQL) so concurrent flows on one source are checked one after
    another; SQLite writers are already serialised by ``BEGIN IMMEDIATE``."""
    await uow.session.execute(
        select(LedgerEntryRow.entry_id)
        .where(LedgerEntryRow.entry_id.in_(entry_ids))
        .with_for_update()
    )


async def _balances(
    uow: UnitOfWork, entry_ids: list[str], lock: bool = True
) -> dict[str, SourceBalance]:
    """Current balance of each named source, read (and locked) inside the writing transaction."""
    if lock:
        await _lock(uow, entry_ids)
    drawn = (
        select(FundingLinkRow.source_entry_id, func.sum(FundingLinkRow.amount_pence).label("drawn"))
        .where(FundingLinkRow.source_entry_id.in_(entry_ids))
        .group_by(FundingLinkRow.source_entry_id)
        .subquery()
    )
    reversals = (
        select(LedgerEntryRow.original_entry_id, func.count().label("n"))
        .where(LedgerEntryRow.original_entry_id.in_(entry_ids))
        .group_by(LedgerEntryRow.original_entry_id)
        .subquery()
    )
    rows = await uow.session.execute(
        select(LedgerEntryRow, drawn.c.drawn, reversals.c.n)
        .outerjoin(drawn, drawn.c.source_entry_id == LedgerEntryRow.entry_id)
        .outerjoin(reversals, reversals.c.original_entry_id == LedgerEntryRow.entry_id)
        .where(LedgerEntryRow.entry_id.in_(entry_ids))
    )
    return {
        e.entry_id: SourceBalance(
            e.entry_id,
            FundingStream(e.stream),
            int(e.amount_pence),
            int(d or 0),
            EntryKind(e.kind),
            active=(n or 0) % 2 == 0,
            stream_restricted=e.stream_restricted,
            area=e.area,
        )
        for e, d, n in rows
    }


class SourceLeft(BaseModel):
    entry_id: UUID
    kind: str
    stream: str
    counterparty: str
    held_pence: int
    drawn_pence: int
    remaining_pence: int


async def list_entries(uow: UnitOfWork) -> list[LedgerEntryRow]:
    async with uow:
        return list(
            (
                await uow.session.scalars(
                    select(LedgerEntryRow).order_by(
                        LedgerEntryRow.entry_on, LedgerEntryRow.recorded_at
                    )
                )
            ).all()
        )


async def source_balances(uow: UnitOfWork) -> list[SourceLeft]:
    """Every source of this node with what it holds, what is drawn and what remains."""
    async with uow:
        ids = list(
            (
                await uow.session.scalars(
                    select(LedgerEntryRow.entry_id).where(
                        LedgerEntryRow.kind.in_([EntryKind.INCOME.value, EntryKind.RECEIVED.value])
                    )
                )
            ).all()
        )
        balances = await _balances(uow, ids, lock=False)
        names = dict(
            (
                await uow.session.execute(
                    select(LedgerEntryRow.entry_id, LedgerEntryRow.counterparty).where(
                        LedgerEntryRow.entry_id.in_(ids)
                    )
                )
            ).all()
        )
    return [
        SourceLeft(
            entry_id=UUID(b.entry_id),
            kind=b.kind,
            stream=b.stream,
            counterparty=names[b.entry_id],
            held_pence=b.held_pence,
            drawn_pence=b.drawn_pence,
            remaining_pence=b.remaining_pence,
        )
        for b in balances.values()
    ]
