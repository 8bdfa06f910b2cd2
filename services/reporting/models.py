"""Tables of the reporting service: what has been applied, and the projections built from it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Date, DateTime, Integer, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AppliedEventRow(Base):
    """Every event applied, once: the idempotency record and the audit trail behind every figure."""

    __tablename__ = "applied_event"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, unique=True)
    node: Mapped[str] = mapped_column(String(40))
    service: Mapped[str] = mapped_column(String(40))
    sequence: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    stream_seq: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    digest: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))


class ProducerPositionRow(Base):
    """Per (node, service): highest sequence seen and how many applied; the difference is a gap."""

    __tablename__ = "producer_position"

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    service: Mapped[str] = mapped_column(String(40), primary_key=True)
    max_sequence: Mapped[int] = mapped_column(BigInteger)
    applied: Mapped[int] = mapped_column(BigInteger)
    last_event_id: Mapped[str] = mapped_column(String(36))
    last_recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IngestPositionRow(Base):
    """Where the consumer is: the hub stream sequence and the head of the hash chain."""

    __tablename__ = "ingest_position"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    stream_seq: Mapped[int] = mapped_column(BigInteger)
    applied: Mapped[int] = mapped_column(BigInteger)
    chain_head: Mapped[str] = mapped_column(String(64))


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


metadata = Base.metadata
