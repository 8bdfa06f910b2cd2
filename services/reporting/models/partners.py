"""Reporting tables projected from partners events."""

from __future__ import annotations

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from services.reporting.models import Base


class OrganisationView(Base):
    __tablename__ = "organisation_view"

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON)
    areas: Mapped[list[str]] = mapped_column(JSON)
    functions: Mapped[list[str]] = mapped_column(JSON)
    event_id: Mapped[str] = mapped_column(String(36))
