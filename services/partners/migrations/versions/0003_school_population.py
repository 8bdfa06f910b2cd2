"""school population: the node's area's pupils and their characteristics per academic year

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "school_population",
        sa.Column("la_code", sa.String(length=3), nullable=False),
        sa.Column("academic_year", sa.String(length=7), nullable=False),
        sa.Column("area", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("la_code", "academic_year"),
    )


def downgrade() -> None:
    op.drop_table("school_population")
