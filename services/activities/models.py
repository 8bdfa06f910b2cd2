"""Tables of the activities service (one database per node)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Date, DateTime, Integer, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import add_outbox_tables


class Base(DeclarativeBase):
    pass


class ActivityRow(Base):
    __tablename__ = "activity"

    activity_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(200))
    delivered_by: Mapped[str] = mapped_column(String(36))
    area: Mapped[str] = mapped_column(String(40))
    setting_urn: Mapped[str | None] = mapped_column(String(12))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    hours: Mapped[Decimal] = mapped_column(Numeric(9, 2))
    headcount: Mapped[int] = mapped_column(Integer)
    functions: Mapped[list[str]] = mapped_column(JSON)
    aims: Mapped[list[str]] = mapped_column(JSON)
    level: Mapped[str | None] = mapped_column(String(20))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


outbox_table, outbox_cursor = add_outbox_tables(Base.metadata)
metadata = Base.metadata
