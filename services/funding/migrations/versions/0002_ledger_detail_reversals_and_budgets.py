"""ledger detail, reversals and budgets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget",
        sa.Column("budget_seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("period_kind", sa.String(length=10), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("function", sa.String(length=20), nullable=False),
        sa.Column("area", sa.String(length=40), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("budget_seq"),
    )
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("function", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("area", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("purpose", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("stream_restricted", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("reverses_entry_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("original_entry_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("sign", sa.SmallInteger(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("counterpart_entry_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.create_index("ix_ledger_entry_original_entry_id", ["original_entry_id"], unique=False)
        batch_op.create_index("ix_ledger_entry_reverses_entry_id", ["reverses_entry_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entry_reverses_entry_id")
        batch_op.drop_index("ix_ledger_entry_original_entry_id")
        for column in ("details", "counterpart_entry_id", "sign", "original_entry_id", "reverses_entry_id",
                       "stream_restricted", "purpose", "area", "function"):
            batch_op.drop_column(column)
    op.drop_table("budget")
