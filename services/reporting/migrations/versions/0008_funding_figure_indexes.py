"""funding: indexes for the figures summed over the whole ledger

The balance, the sources' figures and the per-node sums read every ledger entry of some kinds, and
every link by the source it draws on. Entries are wide rows (title, details): these were scans of
the whole table and a sort of every link. An index by kind (with node, original entry and amount)
and one of links by source (with amount) give those figures from narrow, ordered entries instead.

Revision ID: 0008_funding_figure_indexes
Revises: 0007_participation_change_stamp
Create Date: 2026-12-07
"""
from __future__ import annotations

from alembic import op


revision = "0008_funding_figure_indexes"
down_revision = "0007_participation_change_stamp"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_funding_flow_view_kind",
        "funding_flow_view",
        ["kind", "node", "original_entry_id", "amount_pence"],
        unique=False,
    )
    op.create_index(
        "ix_funding_link_view_source",
        "funding_link_view",
        ["node", "source_entry_id", "amount_pence"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_funding_link_view_source", table_name="funding_link_view")
    op.drop_index("ix_funding_flow_view_kind", table_name="funding_flow_view")
