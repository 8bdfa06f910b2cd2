"""partners: state, agreements, settings

Revision ID: 0002_partners
Revises: 0001
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0002_partners"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agreement_view',
    sa.Column('node', sa.String(length=40), nullable=False),
    sa.Column('agreement_id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('functions', sa.JSON(), nullable=False),
    sa.Column('areas', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'agreement_id')
    )
    with op.batch_alter_table('agreement_view', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_view_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('setting_view',
    sa.Column('node', sa.String(length=40), nullable=False),
    sa.Column('urn', sa.String(length=7), nullable=False),
    sa.Column('organisation_id', sa.String(length=36), nullable=False),
    sa.Column('area', sa.String(length=40), nullable=False),
    sa.Column('la_code', sa.String(length=3), nullable=False),
    sa.Column('phase', sa.String(length=20), nullable=False),
    sa.Column('setting_type', sa.String(length=100), nullable=False),
    sa.Column('state_funded', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'urn')
    )
    with op.batch_alter_table('organisation_view', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=20), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('organisation_view', schema=None) as batch_op:
        batch_op.drop_column('state')

    op.drop_table('setting_view')
    with op.batch_alter_table('agreement_view', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_view_organisation_id'))

    op.drop_table('agreement_view')
