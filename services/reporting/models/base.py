"""The reporting tables of the ingest itself: what has been applied and where the consumer is.

The projections' tables are one module per context beside this one; `Base` is their common root."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DEFERRED = {"deferred_in_rebuild": True}
"""Index info: no projector searches by this index, so `hub rebuild` drops it for the bulk load and
recreates it at the end (services/reporting/ingest/rebuild.py). An index without it is kept."""

UPDATED_BY_KEY = {"updated_by_key": True}
"""Table info: projectors update its rows by primary key, so the bulk writer folds an update into a
same-batch insert of its row (services/reporting/ingest/bulk.py). Others may only be inserted
into."""


class Base(DeclarativeBase):
    __table__: ClassVar[Table]
    """Every reporting model is a plain table (no joins, no selects), which the projectors and the
    bulk writer take by name and columns; SQLAlchemy types it as any ``FromClause``."""


class AppliedEventRow(Base):
    """Every event applied, once: the idempotency record and the audit trail behind every figure."""

    __tablename__ = "applied_event"
    __table_args__ = (
        # which event holds a producer's sequence number: looked up only for one at or below the
        # producer's highest (a reuse, or a late arrival), so it costs ordinary ingest nothing
        Index("ix_applied_event_producer_sequence", "node", "service", "sequence", info=DEFERRED),
    )

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
    """Per (node, service): highest sequence applied and how many events applied (the difference is
    a gap), and how many of its events were refused for reusing a sequence or for the nodes they
    name."""

    __tablename__ = "producer_position"

    node: Mapped[str] = mapped_column(String(40), primary_key=True)
    service: Mapped[str] = mapped_column(String(40), primary_key=True)
    max_sequence: Mapped[int] = mapped_column(BigInteger)
    applied: Mapped[int] = mapped_column(BigInteger)
    last_event_id: Mapped[str] = mapped_column(String(36))
    last_recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reused: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    refused: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


HUB_POSITION = "hub"
"""The one `ingest_position` row of the hub stream consumer."""


class IngestPositionRow(Base):
    """Where the consumer is: the hub stream sequence and the head of the hash chain."""

    __tablename__ = "ingest_position"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    stream_seq: Mapped[int] = mapped_column(BigInteger)
    applied: Mapped[int] = mapped_column(BigInteger)
    chain_head: Mapped[str] = mapped_column(String(64))


metadata = Base.metadata
