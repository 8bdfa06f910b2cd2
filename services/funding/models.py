"""Tables of the funding service: an append-only ledger (one database per node)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import add_outbox_tables


class Base(DeclarativeBase):
    pass


class LedgerEntryRow(Base):
    """One income, allocation or spend entry. Never updated or deleted."""

    __tablename__ = "ledger_entry"

    entry_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    stream: Mapped[str] = mapped_column(String(10))
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    counterparty: Mapped[str] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(30))
    entry_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FundingLinkRow(Base):
    """How much an entry draws from an earlier entry: the thread an auditor follows."""

    __tablename__ = "funding_link"

    entry_id: Mapped[str] = mapped_column(ForeignKey("ledger_entry.entry_id"), primary_key=True)
    source_entry_id: Mapped[str] = mapped_column(ForeignKey("ledger_entry.entry_id"), primary_key=True, index=True)
    amount_pence: Mapped[int] = mapped_column(BigInteger)


outbox_table, outbox_cursor = add_outbox_tables(Base.metadata)
metadata = Base.metadata
