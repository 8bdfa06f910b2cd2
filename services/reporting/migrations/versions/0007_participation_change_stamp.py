"""participations: a change stamp per row, in the live index

Each row records the ingest position (events applied) after the batch that last wrote it, and the
index covering a year's participations carries it: the pupil views hold a year's rows between data
versions and read only what changed since, from the index, instead of the whole year at every new
version. Rows written before this revision keep 0 (older than any position a reader holds).

Revision ID: 0007_participation_change_stamp
Revises: 0006_sequence_reuse
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0007_participation_change_stamp"
down_revision = "0006_sequence_reuse"
branch_labels = None
depends_on = None

_INDEX = "ix_participation_view_live"
_BY_ARRIVAL = ["academic_year", "withdrawn", "node", "participation_id", "activity_id", "pseudonym", "home_area",
               "year_group"]


def upgrade() -> None:
    with op.batch_alter_table("participation_view") as batch:
        batch.add_column(sa.Column("change_stamp", sa.BigInteger(), nullable=False, server_default="0"))
    op.drop_index(_INDEX, table_name="participation_view")
    op.create_index(_INDEX, "participation_view", [*_BY_ARRIVAL, "change_stamp"], unique=False)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="participation_view")
    op.create_index(_INDEX, "participation_view", _BY_ARRIVAL, unique=False)
    with op.batch_alter_table("participation_view") as batch:
        batch.drop_column("change_stamp")
