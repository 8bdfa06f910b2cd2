"""school population: each area's pupils in state-funded schools and their characteristics per year

Revision ID: 0004_school_population
Revises: 0003_partner_events
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0004_school_population"
down_revision = "0003_partner_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "school_population_view",
        sa.Column("area", sa.String(length=40), nullable=False),
        sa.Column("academic_year", sa.String(length=7), nullable=False),
        sa.Column("node", sa.String(length=40), nullable=False),
        sa.Column("la_code", sa.String(length=3), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("pupils", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("area", "academic_year"),
    )


def downgrade() -> None:
    op.drop_table("school_population_view")
