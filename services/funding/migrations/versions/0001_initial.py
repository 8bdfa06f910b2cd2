"""initial: ledger entries, funding links and outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.outbox_migrations import create_outbox_v1, drop_outbox_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_entry",
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("stream", sa.String(length=10), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("counterparty", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=True),
        sa.Column("entry_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id"),
    )
    op.create_table(
        "funding_link",
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("source_entry_id", sa.String(length=36), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["ledger_entry.entry_id"]),
        sa.ForeignKeyConstraint(["source_entry_id"], ["ledger_entry.entry_id"]),
        sa.PrimaryKeyConstraint("entry_id", "source_entry_id"),
    )
    op.create_index("ix_funding_link_source_entry_id", "funding_link", ["source_entry_id"])
    create_outbox_v1()


def downgrade() -> None:
    drop_outbox_v1()
    op.drop_index("ix_funding_link_source_entry_id", "funding_link")
    op.drop_table("funding_link")
    op.drop_table("ledger_entry")
