"""Reporting tables projected from activities events."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import JSON, Date, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from services.reporting.models import Base


class ActivityView(Base):
    __tablename__ = "activity_view"

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(200))
    area: Mapped[str] = mapped_column(String(40))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    hours: Mapped[Decimal] = mapped_column(Numeric(11, 2))
    headcount: Mapped[int] = mapped_column(Integer)
    level: Mapped[str | None] = mapped_column(String(20))
    functions: Mapped[list[str]] = mapped_column(JSON)
    event_id: Mapped[str] = mapped_column(String(36))
