"""partner events: which events set an organisation's state and details (evidence behind partner figures)

Rows projected before this revision have none until `hub rebuild`; evidence then names the
registration event only.

Revision ID: 0003_partner_events
Revises: 0002_partners
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0003_partner_events"
down_revision = "0002_partners"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisation_view", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_event_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("details_event_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organisation_view", schema=None) as batch_op:
        batch_op.drop_column("details_event_id")
        batch_op.drop_column("state_event_id")
