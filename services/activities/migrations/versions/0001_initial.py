"""initial: activities and outbox

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
        "activity",
        sa.Column("activity_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("delivered_by", sa.String(length=36), nullable=False),
        sa.Column("area", sa.String(length=40), nullable=False),
        sa.Column("setting_urn", sa.String(length=12), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("hours", sa.Numeric(9, 2), nullable=False),
        sa.Column("headcount", sa.Integer(), nullable=False),
        sa.Column("functions", sa.JSON(), nullable=False),
        sa.Column("aims", sa.JSON(), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("activity_id"),
    )
    create_outbox_v1()


def downgrade() -> None:
    drop_outbox_v1()
    op.drop_table("activity")
