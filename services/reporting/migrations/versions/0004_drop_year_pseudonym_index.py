"""participations: drop the (academic_year, pseudonym) index

No query looks pupils up by pseudonym within a year; the live index covers the counts. Each
participation written kept a 64-character key in it up to date: a fifth of the database's work
when applying events.

Revision ID: 0004_drop_year_pseudonym_index
Revises: 0003_participation_live_index
Create Date: 2026-12-02
"""
from __future__ import annotations

from alembic import op


revision = "0004_drop_year_pseudonym_index"
down_revision = "0003_participation_live_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_participation_view_year_pseudonym", table_name="participation_view")


def downgrade() -> None:
    op.create_index("ix_participation_view_year_pseudonym", "participation_view", ["academic_year", "pseudonym"],
                    unique=False)
