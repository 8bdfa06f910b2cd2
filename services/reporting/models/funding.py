"""Reporting tables projected from funding events."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from services.reporting.models.base import DEFERRED, Base


class FundingEntryView(Base):
    """Every entry with its signed effect: a reversal carries the original's kind and counterparty
    and a negative (cancel) or positive (reinstate) amount, so sums are net of reversals."""

    __tablename__ = "funding_entry_view"

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    stream: Mapped[str] = mapped_column(String(10))
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str | None] = mapped_column(String(30))
    counterparty: Mapped[str] = mapped_column(String(200))
    entry_on: Mapped[date] = mapped_column(Date)
    event_id: Mapped[str] = mapped_column(String(36))


class FundingFlowView(Base):
    """Each ledger entry as published, with what it was for:
    the detail behind every trace and check."""

    __tablename__ = "funding_flow_view"
    __table_args__ = (
        Index("ix_funding_flow_view_original_entry_id", "original_entry_id", info=DEFERRED),
        # the figures summed over the whole ledger by kind (balance, sources, per-node sums):
        # narrow entries in order rather than a scan of the wide rows (migration 0008)
        Index(
            "ix_funding_flow_view_kind",
            "kind",
            "node",
            "original_entry_id",
            "amount_pence",
            info=DEFERRED,
        ),
    )

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    stream: Mapped[str] = mapped_column(String(10))
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    entry_on: Mapped[date] = mapped_column(Date)
    counterparty: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(30))
    function: Mapped[str | None] = mapped_column(String(20))
    area: Mapped[str | None] = mapped_column(String(40))
    category: Mapped[str | None] = mapped_column(String(30))
    title: Mapped[str | None] = mapped_column(String(500))
    counterpart_node: Mapped[str | None] = mapped_column(String(40))
    counterpart_entry_id: Mapped[str | None] = mapped_column(String(36))
    recipient_org_id: Mapped[str | None] = mapped_column(String(64))
    original_entry_id: Mapped[str | None] = mapped_column(String(36))
    sign: Mapped[int] = mapped_column(SmallInteger)
    stream_restricted: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    event_id: Mapped[str] = mapped_column(String(36))


class FundingLinkView(Base):
    """How much an entry draws on a source of the same node (negative when a reversal frees it)."""

    __tablename__ = "funding_link_view"
    __table_args__ = (
        # what is drawn on each source, summed in source order (migration 0008)
        Index(
            "ix_funding_link_view_source", "node", "source_entry_id", "amount_pence", info=DEFERRED
        ),
    )

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_entry_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    amount_pence: Mapped[int] = mapped_column(BigInteger)


class FundingBudgetView(Base):
    """The current budget per node, period, function and area
    (a later BudgetSet replaces the row)."""

    __tablename__ = "funding_budget_view"

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    period_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    function: Mapped[str] = mapped_column(String(20), primary_key=True)
    area: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(36))
