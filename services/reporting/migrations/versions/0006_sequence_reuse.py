"""producers: sequence reuse and refused payloads counted; which event holds each sequence

Reporting dead-letters an event reusing a (node, service, sequence) already applied under another
event id, and one whose payload names a node it may not; data health counts both per producer
(`reused`, `refused`) beside the gaps. The index finds the event holding a sequence. This
revision also joins the three branches the history had grown (partners, funding, activities)
into one head.

Revision ID: 0006_sequence_reuse
Revises: 0002_funding, 0004_school_population, 0005_live_index_arrival
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0006_sequence_reuse"
down_revision = ("0002_funding", "0004_school_population", "0005_live_index_arrival")
branch_labels = None
depends_on = None

_INDEX = "ix_applied_event_producer_sequence"


def upgrade() -> None:
    with op.batch_alter_table("producer_position") as batch:
        batch.add_column(sa.Column("reused", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("refused", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_index(_INDEX, "applied_event", ["node", "service", "sequence"], unique=False)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="applied_event")
    with op.batch_alter_table("producer_position") as batch:
        batch.drop_column("refused")
        batch.drop_column("reused")
