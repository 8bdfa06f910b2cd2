"""Projectors for funding events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.contracts.funding import FundsAllocated, IncomeRecorded
from shared.envelope import ReceivedEvent
from services.reporting.models import FundingEntryView
from services.reporting.projections import Insert, Write, projects


def _entry(event: ReceivedEvent, **values: Any) -> Insert:
    return Insert(
        FundingEntryView.__table__,
        {"node": event.envelope.node, "event_id": str(event.envelope.event_id), **values},
    )


@projects("IncomeRecorded")
def income_recorded(event: ReceivedEvent) -> Iterable[Write]:
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


@projects("FundsAllocated")
def funds_allocated(event: ReceivedEvent) -> Iterable[Write]:
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
