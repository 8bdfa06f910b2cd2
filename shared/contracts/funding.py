"""Contracts published by the funding service: a ledger that traces every pound."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import EventPayload, event
from shared.contracts.vocabulary import FundingStream, IncomeSource, Pence
from shared.identity import Slug

SERVICE = "funding"


class FundingLink(BaseModel):
    """How much of a flow is drawn from one earlier entry (income or incoming allocation)."""

    model_config = ConfigDict(frozen=True)

    entry_id: UUID
    amount_pence: Pence


@event(SERVICE, "IncomeRecorded", 1)
class IncomeRecorded(EventPayload):
    """Money came in to the node: the DfE grant or income levered in from elsewhere."""

    entry_id: UUID
    source: IncomeSource
    funder: str = Field(min_length=1, max_length=200, description="Funder name or org-id.")
    stream: FundingStream
    amount_pence: Pence
    received_on: date
    purpose: str | None = None


@event(SERVICE, "FundsAllocated", 1)
class FundsAllocated(EventPayload):
    """The node passed money to another lead organisation (the sender's side of a transfer)."""

    entry_id: UUID
    to_node: Slug
    stream: FundingStream
    amount_pence: Pence
    allocated_on: date
    funded_from: tuple[FundingLink, ...] = Field(min_length=1)
