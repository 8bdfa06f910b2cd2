"""The ledger brought forward from its own events after a restore (shared/node_recovery.py).

Every ledger event carries its whole entry and the links it draws on, so each entry comes back
as the use case wrote it (``_row``/``_store`` in services.py), amounts in pence unchanged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.funding.models import BudgetRow, FundingLinkRow, LedgerEntryRow
from shared.contracts.funding import (
    BudgetSet,
    EntryKind,
    EntryReversed,
    ExpenditureRecorded,
    FundsAllocated,
    FundsReceived,
    IncomeRecorded,
    PartnerCommissioned,
)
from shared.envelope import ReceivedEvent
from shared.node_recovery import Restorer


async def _entry(
    session: AsyncSession,
    event: ReceivedEvent,
    kind: EntryKind,
    counterparty: str,
    on: Any,
    links: dict[str, int],
    **extra: Any,
) -> list[str]:
    p: Any = event.payload
    session.add(
        LedgerEntryRow(
            entry_id=str(p.entry_id),
            kind=kind.value,
            stream=str(p.stream),
            amount_pence=p.amount_pence,
            counterparty=counterparty,
            entry_on=on,
            recorded_at=event.envelope.recorded_at,
            sign=extra.pop("sign", 1),
            details=extra.pop("details", {}),
            stream_restricted=extra.pop("stream_restricted", True),
            **extra,
        )
    )
    await session.flush()
    session.add_all(
        FundingLinkRow(entry_id=str(p.entry_id), source_entry_id=s, amount_pence=a)
        for s, a in links.items()
    )
    return []


def _draws(p: Any) -> dict[str, int]:
    return {str(link.entry_id): link.amount_pence for link in p.funded_from}


async def _income(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, IncomeRecorded)
    return await _entry(
        session,
        event,
        EntryKind.INCOME,
        p.funder,
        p.received_on,
        {},
        source=str(p.source),
        purpose=p.purpose,
        area=p.area,
        stream_restricted=p.stream_restricted,
    )


async def _received(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, FundsReceived)
    return await _entry(
        session,
        event,
        EntryKind.RECEIVED,
        p.from_node,
        p.received_on,
        {},
        counterpart_entry_id=str(p.sender_entry_id),
    )


async def _allocated(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, FundsAllocated)
    return await _entry(
        session,
        event,
        EntryKind.ALLOCATION,
        p.to_node,
        p.allocated_on,
        _draws(p),
        purpose=p.purpose,
    )


async def _commissioned(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, PartnerCommissioned)
    details = {
        "recipient_organisation_id": str(p.recipient_organisation_id),
        "recipient_org_id": p.recipient_org_id,
        "title": p.title,
        "activity_ids": [str(a) for a in p.activity_ids],
    }
    return await _entry(
        session,
        event,
        EntryKind.COMMISSION,
        p.recipient_name,
        p.commissioned_on,
        _draws(p),
        function=str(p.function),
        area=p.area,
        purpose=p.title,
        details=details,
    )


async def _spent(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, ExpenditureRecorded)
    details = {
        "category": str(p.category),
        "activity_ids": [str(a) for a in p.activity_ids],
        "remission_reason": str(p.remission_reason) if p.remission_reason else None,
        "asset": p.asset.model_dump() if p.asset else None,
    }
    return await _entry(
        session,
        event,
        EntryKind.EXPENDITURE,
        p.payee,
        p.spent_on,
        _draws(p),
        function=str(p.function),
        area=p.area,
        purpose=p.description,
        details=details,
    )


async def _reversed(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, EntryReversed)
    original = await session.get_one(LedgerEntryRow, str(p.original_entry_id))
    links = {str(link.entry_id): link.amount_pence for link in p.funded_from}
    return await _entry(
        session,
        event,
        EntryKind.REVERSAL,
        original.counterparty,
        p.reversed_on,
        links,
        purpose=p.reason,
        reverses_entry_id=str(p.reverses_entry_id),
        original_entry_id=str(p.original_entry_id),
        sign=p.sign,
    )


async def _budget(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, BudgetSet)
    session.add(BudgetRow(recorded_at=event.envelope.recorded_at, **p.model_dump()))
    return []


RESTORERS: dict[str, Restorer] = {
    "IncomeRecorded": _income,
    "FundsReceived": _received,
    "FundsAllocated": _allocated,
    "PartnerCommissioned": _commissioned,
    "ExpenditureRecorded": _spent,
    "EntryReversed": _reversed,
    "BudgetSet": _budget,
}
