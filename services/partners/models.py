"""Tables of the partners service (one database per node)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, String, Text
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
    state: Mapped[str] = mapped_column(String(20), default="interest", server_default="interest")
    state_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state_changed_by: Mapped[str | None] = mapped_column(String(200))
    identifiers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    offer: Mapped[str | None] = mapped_column(Text)
    aims: Mapped[list[str]] = mapped_column(JSON, default=list)


class StateChangeRow(Base):
    """Every lifecycle decision, kept: who moved the organisation, when and why."""

    __tablename__ = "state_change"

    change_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisation.organisation_id"), index=True
    )
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)


class AgreementRow(Base):
    __tablename__ = "agreement"

    agreement_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisation.organisation_id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date, index=True)
    functions: Mapped[list[str]] = mapped_column(JSON)
    areas: Mapped[list[str]] = mapped_column(JSON)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_on: Mapped[date | None] = mapped_column(Date)
    ended_reason: Mapped[str | None] = mapped_column(Text)


class SettingRow(Base):
    """What the DfE register says about a school or setting; its organisation row holds the name."""

    __tablename__ = "education_setting"

    urn: Mapped[str] = mapped_column(String(7), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisation.organisation_id"), unique=True
    )
    la_code: Mapped[str] = mapped_column(String(3))
    phase: Mapped[str] = mapped_column(String(20))
    setting_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(40))
    state_funded: Mapped[bool] = mapped_column(Boolean)


class SchoolPopulationRow(Base):
    """The node's area's school population for a year as last recorded;
    a revised release replaces it."""

    __tablename__ = "school_population"

    la_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    academic_year: Mapped[str] = mapped_column(String(7), primary_key=True)
    area: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(200))
    figures: Mapped[dict[str, int | None]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


outbox_table, outbox_cursor = add_outbox_tables(Base.metadata)
metadata = Base.metadata
