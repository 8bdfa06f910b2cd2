"""Alembic operations for the outbox tables, versioned so old service migrations never change."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.outbox import OUTBOX_CURSORS


def create_outbox_v1() -> None:
    """Create ``outbox`` and ``outbox_cursor`` as of version 1 and seed the two cursors."""
    op.create_table(
        "outbox",
        sa.Column(
            "sequence",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sequence"),
        sa.UniqueConstraint("event_id"),
    )
    cursor = op.create_table(
        "outbox_cursor",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.bulk_insert(cursor, OUTBOX_CURSORS)


def drop_outbox_v1() -> None:
    op.drop_table("outbox_cursor")
    op.drop_table("outbox")
