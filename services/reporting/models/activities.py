"""Reporting tables projected from activities events. Pupils appear only by pseudonym,
never by UPN."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Boolean, Date, Index, Integer, Numeric, String, false
from sqlalchemy.orm import Mapped, mapped_column

from services.reporting.models.base import DEFERRED, UPDATED_BY_KEY, Base


class ActivityView(Base):
    """Activities as currently recorded (corrections applied); a withdrawn activity is removed."""

    __tablename__ = "activity_view"
    __table_args__ = (
        Index("ix_activity_view_academic_year", "academic_year", info=DEFERRED),
        {"info": UPDATED_BY_KEY},
    )

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
    delivered_by: Mapped[str | None] = mapped_column(String(36))
    setting_urn: Mapped[str | None] = mapped_column(String(7))
    term: Mapped[str | None] = mapped_column(String(40))
    academic_year: Mapped[str | None] = mapped_column(String(7))
    aims: Mapped[list[str] | None] = mapped_column(JSON)
    partner_return_id: Mapped[str | None] = mapped_column(String(36))


class ParticipationView(Base):
    """One pupil in one activity: attributed to the pupil's own area and school,
    whoever delivered it."""

    __tablename__ = "participation_view"
    __table_args__ = (
        # covers the reach counts (live rows of a year, joined to their activity, by pupil, area,
        # year group, node); in arrival order within a node's year (participation ids are
        # time-ordered), so a new row is appended to the index rather than written among the year's
        # activities (migration 0005)
        Index(
            "ix_participation_view_live",
            "academic_year",
            "withdrawn",
            "node",
            "participation_id",
            "activity_id",
            "pseudonym",
            "home_area",
            "year_group",
            "change_stamp",  # what changed since a version: read from the index alone (0007)
            info=DEFERRED,
        ),
    )

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    participation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    activity_id: Mapped[str] = mapped_column(
        String(36), index=True
    )  # not deferred: withdrawing an activity withdraws its pupils
    academic_year: Mapped[str] = mapped_column(String(7))
    pseudonym: Mapped[str] = mapped_column(String(64))
    year_group: Mapped[str] = mapped_column(String(3))
    send: Mapped[str] = mapped_column(String(10))
    fsm: Mapped[bool] = mapped_column(Boolean)
    looked_after: Mapped[bool] = mapped_column(Boolean)
    ethnicity: Mapped[str] = mapped_column(String(20))
    gender: Mapped[str] = mapped_column(String(20))
    school_urn: Mapped[str | None] = mapped_column(String(7))
    home_area: Mapped[str] = mapped_column(String(40))
    withdrawn: Mapped[bool] = mapped_column(Boolean, server_default=false())
    event_id: Mapped[str] = mapped_column(String(36))
    change_stamp: Mapped[int] = mapped_column(BigInteger, server_default="0")
    """The ingest position (events applied) after the batch that last wrote this row: a reader
    holding a year's rows as of a position reads only those stamped after it
    (services/reporting/read/views/pupils.py)."""


class ActivityCorrectionView(Base):
    """Every correction and withdrawal, with its reason: what changed a published figure,
    and why."""

    __tablename__ = "activity_correction_view"
    __table_args__ = (
        Index("ix_activity_correction_view_activity_id", "activity_id", info=DEFERRED),
    )

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    node: Mapped[str] = mapped_column(String(40))
    activity_id: Mapped[str] = mapped_column(String(36))
    change: Mapped[str] = mapped_column(String(30))
    participations: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))


class ReturnExpectedView(Base):
    """A return a node expects from a partner for an academic year, and when it is due."""

    __tablename__ = "return_expected_view"

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    academic_year: Mapped[str] = mapped_column(String(7), primary_key=True)
    due_on: Mapped[date] = mapped_column(Date)


class PartnerReturnView(Base):
    """A return a partner submitted through its lead organisation's node."""

    __tablename__ = "partner_return_view"
    __table_args__ = (
        Index("ix_partner_return_view_academic_year", "academic_year", info=DEFERRED),
    )

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(36))
    academic_year: Mapped[str] = mapped_column(String(7))
    submitted_on: Mapped[date] = mapped_column(Date)
    activities: Mapped[int] = mapped_column(Integer)
    participations: Mapped[int] = mapped_column(Integer)
