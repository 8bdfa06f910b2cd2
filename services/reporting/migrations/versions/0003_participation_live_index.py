"""participations: an index covering the reach counts

Revision ID: 0003_participation_live_index
Revises: 0002_activities
Create Date: 2026-12-01
"""
from __future__ import annotations

from alembic import op


revision = "0003_participation_live_index"
down_revision = "0002_activities"
branch_labels = None
depends_on = None

_COLUMNS = ["academic_year", "withdrawn", "node", "activity_id", "pseudonym", "home_area", "year_group"]


def upgrade() -> None:
    op.create_index("ix_participation_view_live", "participation_view", _COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index("ix_participation_view_live", table_name="participation_view")
