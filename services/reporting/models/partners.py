"""Reporting tables projected from partners events."""

from __future__ import annotations

from datetime import date

from sqlalchemy import JSON, Boolean, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.reporting.models.base import DEFERRED, UPDATED_BY_KEY, Base


class OrganisationView(Base):
    """One row per node registration; the same org_id at two nodes is one organisation."""

    __tablename__ = "organisation_view"
    __table_args__ = (
        Index("ix_organisation_view_org_id", "org_id", info=DEFERRED),
        {"info": UPDATED_BY_KEY},
    )

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON)
    areas: Mapped[list[str]] = mapped_column(JSON)
    functions: Mapped[list[str]] = mapped_column(JSON)
    event_id: Mapped[str] = mapped_column(String(36))
    state: Mapped[str | None] = mapped_column(String(20))
    state_event_id: Mapped[str | None] = mapped_column(String(36))
    """The PartnerStateChanged event that set `state` (None: registration set it)."""
    details_event_id: Mapped[str | None] = mapped_column(String(36))
    """The latest OrganisationDetailsChanged event (None: the registration's details stand)."""


class AgreementView(Base):
    __tablename__ = "agreement_view"
    __table_args__ = (
        Index("ix_agreement_view_organisation_id", "organisation_id", info=DEFERRED),
        {"info": UPDATED_BY_KEY},
    )

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    functions: Mapped[list[str]] = mapped_column(JSON)
    areas: Mapped[list[str]] = mapped_column(JSON)


class SettingView(Base):
    __tablename__ = "setting_view"

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    urn: Mapped[str] = mapped_column(String(7), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36))
    area: Mapped[str] = mapped_column(String(40))
    la_code: Mapped[str] = mapped_column(String(3))
    phase: Mapped[str] = mapped_column(String(20))
    setting_type: Mapped[str] = mapped_column(String(100))
    state_funded: Mapped[bool] = mapped_column(Boolean)


class SchoolPopulationView(Base):
    """An area's school population for an academic year, as last recorded by its node."""

    __tablename__ = "school_population_view"

    area: Mapped[str] = mapped_column(String(40), primary_key=True)
    academic_year: Mapped[str] = mapped_column(String(7), primary_key=True)
    node: Mapped[str] = mapped_column(String(40))
    la_code: Mapped[str] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(200))
    pupils: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    """The counts the source gives, by contract field name (sen_support, ethnicity_white …);
    absent = unknown."""
    event_id: Mapped[str] = mapped_column(String(36))
