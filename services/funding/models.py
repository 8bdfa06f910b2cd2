"""Tables of the funding service: an append-only ledger (one database per node)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import add_outbox_tables


class Base(DeclarativeBase):
    pass


class LedgerEntryRow(Base):
    """One income, incoming transfer, allocation, commission,
    spend or reversal. Never updated or deleted."""

    __tablename__ = "ledger_entry"

    entry_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    stream: Mapped[str] = mapped_column(String(10))
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    counterparty: Mapped[str] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(30))
    entry_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    function: Mapped[str | None] = mapped_column(String(20))
    area: Mapped[str | None] = mapped_column(String(40))
    purpose: Mapped[str | None] = mapped_column(String(500))
    stream_restricted: Mapped[bool] = mapped_column(Boolean, default=True)
    reverses_entry_id: Mapped[str | None] = mapped_column(String(36), unique=True, index=True)
    """At most one reversal per entry: to undo a reversal, reverse the reversal."""
    original_entry_id: Mapped[str | None] = mapped_column(String(36), index=True)
    sign: Mapped[int] = mapped_column(SmallInteger, default=1)
    counterpart_entry_id: Mapped[str | None] = mapped_column(String(36))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class FundingLinkRow(Base):
    """How much an entry draws from an earlier entry: the thread an auditor follows
    (negative: freed)."""

    __tablename__ = "funding_link"

    entry_id: Mapped[str] = mapped_column(ForeignKey("ledger_entry.entry_id"), primary_key=True)
    source_entry_id: Mapped[str] = mapped_column(
        ForeignKey("ledger_entry.entry_id"), primary_key=True, index=True
    )
    amount_pence: Mapped[int] = mapped_column(BigInteger)


class BudgetRow(Base):
    """Planned spend per function and area for a period; the latest row for a key counts."""

    __tablename__ = "budget"

    budget_seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period_kind: Mapped[str] = mapped_column(String(10))
    period: Mapped[str] = mapped_column(String(7))
    function: Mapped[str] = mapped_column(String(20))
    area: Mapped[str] = mapped_column(String(40))
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


outbox_table, outbox_cursor = add_outbox_tables(Base.metadata)
metadata = Base.metadata
