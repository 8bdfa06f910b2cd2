"""Projectors for funding events: every entry, its funding links, and budgets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, Date, String, delete, insert, literal, select

from services.reporting.models import (
    FundingBudgetView,
    FundingEntryView,
    FundingFlowView,
    FundingLinkView,
)
from services.reporting.projections.writes import Insert, Projector, Write
from shared.contracts.funding import (
    BudgetSet,
    EntryReversed,
    ExpenditureRecorded,
    FundingLink,
    FundsAllocated,
    FundsReceived,
    IncomeRecorded,
    PartnerCommissioned,
    SignedLink,
)
from shared.envelope import Received


def _entry(event: Received, **values: Any) -> Insert:
    return Insert(
        FundingEntryView.__table__,
        {"node": event.envelope.node, "event_id": str(event.envelope.event_id), **values},
    )


def _flow(
    event: Received, links: Sequence[FundingLink | SignedLink] = (), **values: Any
) -> Iterable[Write]:
    node, entry_id = event.envelope.node, str(values["entry_id"])
    row = {
        "counterparty": None,
        "source": None,
        "function": None,
        "area": None,
        "category": None,
        "title": None,
        "counterpart_node": None,
        "counterpart_entry_id": None,
        "recipient_org_id": None,
        "original_entry_id": None,
        "sign": 1,
        "stream_restricted": True,
        "details": {},
        **values,
        "node": node,
        "entry_id": entry_id,
        "event_id": str(event.envelope.event_id),
    }
    yield Insert(FundingFlowView.__table__, row)
    for link in links:
        yield Insert(
            FundingLinkView.__table__,
            {
                "node": node,
                "entry_id": entry_id,
                "source_entry_id": str(link.entry_id),
                "amount_pence": link.amount_pence,
            },
        )


def income_recorded(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, IncomeRecorded)
    yield _entry(
        event,
        entry_id=str(p.entry_id),
        kind="income",
        stream=p.stream,
        amount_pence=p.amount_pence,
        source=p.source,
        counterparty=p.funder,
        entry_on=p.received_on,
    )
    yield from _flow(
        event,
        entry_id=p.entry_id,
        kind="income",
        stream=p.stream,
        amount_pence=p.amount_pence,
        entry_on=p.received_on,
        counterparty=p.funder,
        source=p.source,
        area=p.area,
        title=p.purpose,
        stream_restricted=p.stream_restricted,
    )


def funds_received(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, FundsReceived)
    yield _entry(
        event,
        entry_id=str(p.entry_id),
        kind="received",
        stream=p.stream,
        amount_pence=p.amount_pence,
        source=None,
        counterparty=p.from_node,
        entry_on=p.received_on,
    )
    yield from _flow(
        event,
        entry_id=p.entry_id,
        kind="received",
        stream=p.stream,
        amount_pence=p.amount_pence,
        entry_on=p.received_on,
        counterparty=p.from_node,
        counterpart_node=p.from_node,
        counterpart_entry_id=str(p.sender_entry_id),
    )


def funds_allocated(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, FundsAllocated)
    yield _entry(
        event,
        entry_id=str(p.entry_id),
        kind="allocation",
        stream=p.stream,
        amount_pence=p.amount_pence,
        source=None,
        counterparty=p.to_node,
        entry_on=p.allocated_on,
    )
    yield from _flow(
        event,
        p.funded_from,
        entry_id=p.entry_id,
        kind="allocation",
        stream=p.stream,
        amount_pence=p.amount_pence,
        entry_on=p.allocated_on,
        counterparty=p.to_node,
        counterpart_node=p.to_node,
        title=p.purpose,
    )


def partner_commissioned(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, PartnerCommissioned)
    yield _entry(
        event,
        entry_id=str(p.entry_id),
        kind="commission",
        stream=p.stream,
        amount_pence=p.amount_pence,
        source=None,
        counterparty=p.recipient_name,
        entry_on=p.commissioned_on,
    )
    yield from _flow(
        event,
        p.funded_from,
        entry_id=p.entry_id,
        kind="commission",
        stream=p.stream,
        amount_pence=p.amount_pence,
        entry_on=p.commissioned_on,
        counterparty=p.recipient_name,
        function=p.function,
        area=p.area,
        title=p.title,
        recipient_org_id=p.recipient_org_id,
        details={
            "recipient_organisation_id": str(p.recipient_organisation_id),
            "activity_ids": [str(a) for a in p.activity_ids],
        },
    )


def expenditure_recorded(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, ExpenditureRecorded)
    yield _entry(
        event,
        entry_id=str(p.entry_id),
        kind="expenditure",
        stream=p.stream,
        amount_pence=p.amount_pence,
        source=None,
        counterparty=p.payee,
        entry_on=p.spent_on,
    )
    yield from _flow(
        event,
        p.funded_from,
        entry_id=p.entry_id,
        kind="expenditure",
        stream=p.stream,
        amount_pence=p.amount_pence,
        entry_on=p.spent_on,
        counterparty=p.payee,
        function=p.function,
        area=p.area,
        category=p.category,
        title=p.description,
        details={
            "activity_ids": [str(a) for a in p.activity_ids],
            "remission_reason": p.remission_reason,
            "asset": p.asset.model_dump() if p.asset else None,
        },
    )


def entry_reversed(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, EntryReversed)
    node = event.envelope.node
    yield _signed_copy(
        node,
        str(p.original_entry_id),
        str(p.entry_id),
        p.sign * p.amount_pence,
        p.reversed_on,
        str(event.envelope.event_id),
    )
    yield from _flow(
        event,
        p.funded_from,
        entry_id=p.entry_id,
        kind="reversal",
        stream=p.stream,
        amount_pence=p.amount_pence,
        entry_on=p.reversed_on,
        title=p.reason,
        original_entry_id=str(p.original_entry_id),
        counterpart_entry_id=str(p.reverses_entry_id),
        sign=p.sign,
        details={"original_kind": p.original_kind},
    )


def _signed_copy(
    node: str, original: str, entry_id: str, amount: int, on: date, event_id: str
) -> Write:
    """The reversal's row in funding_entry_view: the original's kind and counterparty,
    signed amount."""
    e = FundingEntryView.__table__.c
    return insert(FundingEntryView.__table__).from_select(
        [
            "node",
            "entry_id",
            "kind",
            "stream",
            "amount_pence",
            "source",
            "counterparty",
            "entry_on",
            "event_id",
        ],
        select(
            e.node,
            literal(entry_id, String),
            e.kind,
            e.stream,
            literal(amount, BigInteger),
            e.source,
            e.counterparty,
            literal(on, Date),
            literal(event_id, String),
        ).where(e.node == node, e.entry_id == original),
    )


def budget_set(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, BudgetSet)
    b = FundingBudgetView.__table__
    key = {
        "node": event.envelope.node,
        "period_kind": p.period_kind.value,
        "period": p.period,
        "function": p.function.value,
        "area": p.area,
    }
    yield delete(b).where(*(b.c[k] == v for k, v in key.items()))
    yield Insert(
        b, {**key, "amount_pence": p.amount_pence, "event_id": str(event.envelope.event_id)}
    )


PROJECTORS: dict[str, Projector] = {
    "IncomeRecorded": income_recorded,
    "FundsReceived": funds_received,
    "FundsAllocated": funds_allocated,
    "PartnerCommissioned": partner_commissioned,
    "ExpenditureRecorded": expenditure_recorded,
    "EntryReversed": entry_reversed,
    "BudgetSet": budget_set,
}
"""The projector of each event type of this context (it sees the latest payload version)."""
