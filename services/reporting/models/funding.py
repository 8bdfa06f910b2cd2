"""Reporting tables projected from funding events."""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from services.reporting.models import Base


class FundingEntryView(Base):
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
