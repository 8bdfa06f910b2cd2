"""initial: organisation register and outbox

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
        "organisation",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("functions", sa.JSON(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organisation_id"),
    )
    op.create_index("ix_organisation_org_id", "organisation", ["org_id"], unique=True)
    create_outbox_v1()


def downgrade() -> None:
    drop_outbox_v1()
    op.drop_index("ix_organisation_org_id", "organisation")
    op.drop_table("organisation")
