"""funding: flows with their detail, funding links and budgets

Revision ID: 0002_funding
Revises: 0001
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_funding"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funding_flow_view",
        sa.Column("node", sa.String(length=40), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("stream", sa.String(length=10), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("entry_on", sa.Date(), nullable=False),
        sa.Column("counterparty", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=30), nullable=True),
        sa.Column("function", sa.String(length=20), nullable=True),
        sa.Column("area", sa.String(length=40), nullable=True),
        sa.Column("category", sa.String(length=30), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("counterpart_node", sa.String(length=40), nullable=True),
        sa.Column("counterpart_entry_id", sa.String(length=36), nullable=True),
        sa.Column("recipient_org_id", sa.String(length=64), nullable=True),
        sa.Column("original_entry_id", sa.String(length=36), nullable=True),
        sa.Column("sign", sa.SmallInteger(), nullable=False),
        sa.Column("stream_restricted", sa.Boolean(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("node", "entry_id"),
    )
    op.create_index("ix_funding_flow_view_original_entry_id", "funding_flow_view", ["original_entry_id"])
    op.create_table(
        "funding_link_view",
        sa.Column("node", sa.String(length=40), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("source_entry_id", sa.String(length=36), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("node", "entry_id", "source_entry_id"),
    )
    op.create_table(
        "funding_budget_view",
        sa.Column("node", sa.String(length=40), nullable=False),
        sa.Column("period_kind", sa.String(length=10), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("function", sa.String(length=20), nullable=False),
        sa.Column("area", sa.String(length=40), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("node", "period_kind", "period", "function", "area"),
    )


def downgrade() -> None:
    op.drop_table("funding_budget_view")
    op.drop_table("funding_link_view")
    op.drop_index("ix_funding_flow_view_original_entry_id", "funding_flow_view")
    op.drop_table("funding_flow_view")
