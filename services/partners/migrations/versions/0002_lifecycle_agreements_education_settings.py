"""lifecycle, agreements, education settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agreement',
    sa.Column('agreement_id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('functions', sa.JSON(), nullable=False),
    sa.Column('areas', sa.JSON(), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('ended_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.organisation_id'], ),
    sa.PrimaryKeyConstraint('agreement_id')
    )
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_ends_on'), ['ends_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_agreement_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('education_setting',
    sa.Column('urn', sa.String(length=7), nullable=False),
    sa.Column('organisation_id', sa.String(length=36), nullable=False),
    sa.Column('la_code', sa.String(length=3), nullable=False),
    sa.Column('phase', sa.String(length=20), nullable=False),
    sa.Column('setting_type', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('state_funded', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.organisation_id'], ),
    sa.PrimaryKeyConstraint('urn'),
    sa.UniqueConstraint('organisation_id')
    )
    op.create_table('state_change',
    sa.Column('change_id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.String(length=36), nullable=False),
    sa.Column('from_state', sa.String(length=20), nullable=False),
    sa.Column('to_state', sa.String(length=20), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.organisation_id'], ),
    sa.PrimaryKeyConstraint('change_id')
    )
    with op.batch_alter_table('state_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_state_change_organisation_id'), ['organisation_id'], unique=False)

    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=20), server_default='interest', nullable=False))
        batch_op.add_column(sa.Column('state_changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('state_changed_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('identifiers', sa.JSON(), server_default=sa.text("'{}'"), nullable=False))
        batch_op.add_column(sa.Column('contact_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('contact_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('offer', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('aims', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_column('aims')
        batch_op.drop_column('offer')
        batch_op.drop_column('contact_email')
        batch_op.drop_column('contact_name')
        batch_op.drop_column('identifiers')
        batch_op.drop_column('state_changed_by')
        batch_op.drop_column('state_changed_at')
        batch_op.drop_column('state')

    with op.batch_alter_table('state_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_state_change_organisation_id'))

    op.drop_table('state_change')
    op.drop_table('education_setting')
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_agreement_ends_on'))

    op.drop_table('agreement')
