"""Tables of the activities service (one database per node)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

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


class WebReturnRow(Base):
    """A partner's return filled in on the web (docs/partner-returns.md): its answers, register
    rows and review, kept at the node like every pupil record. Accepting it imports it as a file
    would be."""

    __tablename__ = "web_return"
    __table_args__ = (UniqueConstraint("partner_id", "academic_year", name="uq_web_return"),)

    web_return_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(36))
    partner_name: Mapped[str] = mapped_column(String(200))
    academic_year: Mapped[str] = mapped_column(String(7))
    due_on: Mapped[date] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(12))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Activities given on the forms, schools worked with, and whether participants are counts."""
    register_rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """The last register uploaded without problems (UPNs included: they stay at the node)."""
    register_problems: Mapped[list[list[Any]]] = mapped_column(JSON)
    """[row, column, reason] of the last upload refused, shown to the partner until fixed."""
    comments: Mapped[str | None] = mapped_column(String(2000))
    submitted_on: Mapped[date | None] = mapped_column(Date)
    partner_return_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReturnInvitationRow(Base):
    """A single-use link to one web return. Only the SHA-256 of its token is stored."""

    __tablename__ = "return_invitation"

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    web_return_id: Mapped[str] = mapped_column(String(36), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReturnSessionRow(Base):
    """A partner's browser session, opened by using an invitation: it reaches that return only."""

    __tablename__ = "return_session"

    session_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    web_return_id: Mapped[str] = mapped_column(String(36), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


outbox_table, outbox_cursor = add_outbox_tables(Base.metadata)
metadata = Base.metadata
