"""Tables of the partners service (one database per node)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import add_outbox_tables


class Base(DeclarativeBase):
    pass


class OrganisationRow(Base):
    __tablename__ = "organisation"

    organisation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON)
    areas: Mapped[list[str]] = mapped_column(JSON)
    functions: Mapped[list[str]] = mapped_column(JSON)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


outbox_table, outbox_cursor = add_outbox_tables(Base.metadata)
metadata = Base.metadata
