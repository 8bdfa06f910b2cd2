"""Contracts published by the funding service: a ledger that traces every pound.

Every flow names the entries it draws on (``funded_from``), so a pound can be followed from its
source to the activity it paid for. A transfer between nodes is recorded on both sides (the IATI
pattern): the sender publishes ``FundsAllocated``, the receiver ``FundsReceived`` naming it.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import EventPayload, NodeRule, event
from shared.contracts.vocabulary import FundingStream, IncomeSource, Pence, StrategicFunction
from shared.identity import Slug

SERVICE = "funding"


class EntryKind(StrEnum):
    """Kinds of ledger entry. Sources can be drawn on; flows draw on sources."""

    INCOME = "income"
    RECEIVED = "received"
    ALLOCATION = "allocation"
    COMMISSION = "commission"
    EXPENDITURE = "expenditure"
    REVERSAL = "reversal"


SOURCE_KINDS = frozenset({EntryKind.INCOME, EntryKind.RECEIVED})
FLOW_KINDS = frozenset({EntryKind.ALLOCATION, EntryKind.COMMISSION, EntryKind.EXPENDITURE})


class SpendCategory(StrEnum):
    """What money was spent on (the annual return's spend headings)."""

    STAFF = "staff"
    DELIVERY = "delivery"
    INSTRUMENTS_EQUIPMENT = "instruments_equipment"
    TECHNOLOGY = "technology"
    VENUES = "venues"
    CPD = "cpd"
    MANAGEMENT = "management"
    REMISSION = "remission"


class RemissionReason(StrEnum):
    """Why a fee was reduced or waived (spend of category ``remission``)."""

    FEE_REDUCTION = "fee_reduction"
    LOOKED_AFTER = "looked_after"
    LOW_INCOME = "low_income"
    SEND = "send"


class PeriodKind(StrEnum):
    ACADEMIC = "academic"
    FINANCIAL = "financial"


class FundingLink(BaseModel):
    """How much of a flow is drawn from one earlier entry (income or incoming funds)."""

    model_config = ConfigDict(frozen=True)

    entry_id: UUID
    amount_pence: Pence


class SignedLink(BaseModel):
    """A funding link moved by a reversal: negative frees the source, positive draws it again."""

    model_config = ConfigDict(frozen=True)

    entry_id: UUID
    amount_pence: int = Field(ge=-(10**13), le=10**13)


class Asset(BaseModel):
    """A capital item for the asset register: what, where, and who has it on loan."""

    model_config = ConfigDict(frozen=True)

    item: str = Field(min_length=1, max_length=200)
    location: str = Field(min_length=1, max_length=200)
    loaned_to: str | None = Field(
        default=None,
        max_length=200,
        description="Setting (URN or name) or pupil pseudonym; never a name.",
    )


@event(SERVICE, "IncomeRecorded", 1)
class IncomeRecorded(EventPayload):
    """Money came in to the node: the DfE grant or income levered in from elsewhere."""

    node_fields = {"area": NodeRule.HUB}

    entry_id: UUID
    source: IncomeSource
    funder: str = Field(min_length=1, max_length=200, description="Funder name or org-id.")
    stream: FundingStream
    amount_pence: Pence
    received_on: date
    purpose: str | None = None
    area: str | None = Field(default=None, description="Area the money is restricted to, if any.")
    stream_restricted: bool = Field(
        default=True,
        description="True when flows drawing on it must be of the same stream (capital/revenue).",
    )


@event(SERVICE, "FundsAllocated", 1)
class FundsAllocated(EventPayload):
    """The node passed money to another lead organisation (the sender's side of a transfer)."""

    node_fields = {"to_node": NodeRule.OTHER}

    entry_id: UUID
    to_node: Slug
    stream: FundingStream
    amount_pence: Pence
    allocated_on: date
    funded_from: tuple[FundingLink, ...] = Field(min_length=1)
    purpose: str | None = None


@event(SERVICE, "FundsReceived", 1)
class FundsReceived(EventPayload):
    """The receiver's side of a transfer, naming the sender's entry;
    a source the receiver draws on."""

    node_fields = {"from_node": NodeRule.OTHER}

    entry_id: UUID
    from_node: Slug
    sender_entry_id: UUID
    stream: FundingStream
    amount_pence: Pence
    received_on: date


@event(SERVICE, "PartnerCommissioned", 1)
class PartnerCommissioned(EventPayload):
    """The node commissioned a delivery partner for named work (a grant in 360Giving terms)."""

    node_fields = {"area": NodeRule.HUB}

    entry_id: UUID
    recipient_organisation_id: UUID = Field(description="The partner in the node's register.")
    recipient_org_id: str | None = Field(
        default=None, description="org-id.guide identifier, e.g. GB-CHC-1234567."
    )
    recipient_name: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=200)
    function: StrategicFunction
    area: str
    activity_ids: tuple[UUID, ...] = ()
    stream: FundingStream
    amount_pence: Pence
    commissioned_on: date
    funded_from: tuple[FundingLink, ...] = Field(min_length=1)


@event(SERVICE, "ExpenditureRecorded", 1)
class ExpenditureRecorded(EventPayload):
    """Money spent by the node, by category and strategic function; the end of a pound's trail."""

    node_fields = {"area": NodeRule.HUB}

    entry_id: UUID
    category: SpendCategory
    function: StrategicFunction
    area: str
    description: str = Field(min_length=1, max_length=500)
    payee: str = Field(min_length=1, max_length=200)
    activity_ids: tuple[UUID, ...] = ()
    stream: FundingStream
    amount_pence: Pence
    spent_on: date
    funded_from: tuple[FundingLink, ...] = Field(min_length=1)
    remission_reason: RemissionReason | None = None
    asset: Asset | None = Field(
        default=None, description="Set when a capital purchase joins the asset register."
    )


@event(SERVICE, "EntryReversed", 1)
class EntryReversed(EventPayload):
    """A mistake undone by a new entry. ``sign`` is -1 when it cancels the original, +1 when it
    reinstates it (a reversal of a reversal); ``funded_from`` carries the signed links it moves."""

    entry_id: UUID
    reverses_entry_id: UUID
    original_entry_id: UUID = Field(description="The first entry of the chain of reversals.")
    original_kind: EntryKind
    sign: Literal[-1, 1]
    stream: FundingStream
    amount_pence: Pence
    reversed_on: date
    reason: str = Field(min_length=1, max_length=500)
    funded_from: tuple[SignedLink, ...] = ()


@event(SERVICE, "BudgetSet", 1)
class BudgetSet(EventPayload):
    """Planned spend for a function and area in a period;
    a later one for the same key replaces it."""

    node_fields = {"area": NodeRule.HUB}

    period_kind: PeriodKind
    period: str = Field(pattern=r"^\d{4}-\d{2}$", description="e.g. 2025-26")
    function: StrategicFunction
    area: str
    amount_pence: Pence
