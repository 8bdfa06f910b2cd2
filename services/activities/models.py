"""Tables of the activities service (one database per node)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import add_outbox_tables


class Base(DeclarativeBase):
    pass


class ActivityRow(Base):
    __tablename__ = "activity"
    __table_args__ = (UniqueConstraint("source_key", name="uq_activity_source_key"),)

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
    term: Mapped[str | None] = mapped_column(String(40))
    academic_year: Mapped[str | None] = mapped_column(String(7))
    source_key: Mapped[str | None] = mapped_column(String(120))
    """The register's activity_ref: re-importing a file finds the activity instead of adding
    it again."""
    partner_return_id: Mapped[str | None] = mapped_column(String(36))
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ParticipationRow(Base):
    """A pupil in an activity. The UPN stays here, on the node that collected it, and nowhere else:
    the node must be able to answer a pupil's data-rights request and correct or withdraw a record
    a school reports by UPN. Events and hub tables carry only the pseudonym."""

    __tablename__ = "participation"
    __table_args__ = (
        # one live record per pupil and activity; a withdrawn one may be recorded again, corrected
        Index(
            "uq_participation_live",
            "activity_id",
            "pseudonym",
            unique=True,
            sqlite_where=text("withdrawn = 0"),
            postgresql_where=text("NOT withdrawn"),
        ),
        Index("ix_participation_upn", "upn"),
    )

    participation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(36), index=True)
    academic_year: Mapped[str] = mapped_column(String(7))
    upn: Mapped[str] = mapped_column(String(13))
    pseudonym: Mapped[str] = mapped_column(String(64))
    year_group: Mapped[str] = mapped_column(String(3))
    send: Mapped[str] = mapped_column(String(10))
    fsm: Mapped[bool] = mapped_column(Boolean)
    looked_after: Mapped[bool] = mapped_column(Boolean)
    ethnicity: Mapped[str] = mapped_column(String(20))
    gender: Mapped[str] = mapped_column(String(20))
    school_urn: Mapped[str | None] = mapped_column(String(7))
    home_area: Mapped[str] = mapped_column(String(40))
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ExpectedReturnRow(Base):
    __tablename__ = "expected_return"

    partner_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    academic_year: Mapped[str] = mapped_column(String(7), primary_key=True)
    due_on: Mapped[date] = mapped_column(Date)


class PartnerReturnRow(Base):
    __tablename__ = "partner_return"
    __table_args__ = (
        UniqueConstraint(
            "partner_id", "academic_year", "file_digest", name="uq_partner_return_file"
        ),
    )

    return_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(36))
    academic_year: Mapped[str] = mapped_column(String(7))
    submitted_on: Mapped[date] = mapped_column(Date)
    file_digest: Mapped[str] = mapped_column(String(64))
    activities: Mapped[int] = mapped_column(Integer)
    participations: Mapped[int] = mapped_column(Integer)


outbox_table, outbox_cursor = add_outbox_tables(Base.metadata)
metadata = Base.metadata
