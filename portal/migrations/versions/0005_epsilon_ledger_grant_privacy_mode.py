"""epsilon ledger; a grant's disclosure mode and daily epsilon

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('epsilon_ledger',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('epsilon', sa.Float(), nullable=False),
    sa.Column('queries', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_epsilon_ledger_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_epsilon_ledger')),
    sa.UniqueConstraint('grant_id', 'day', name=op.f('uq_epsilon_ledger_grant_id'))
    )
    with op.batch_alter_table('epsilon_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_epsilon_ledger_grant_id'), ['grant_id'], unique=False)
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disclosure_mode', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('daily_epsilon', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_column('daily_epsilon')
        batch_op.drop_column('disclosure_mode')
    with op.batch_alter_table('epsilon_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_epsilon_ledger_grant_id'))
    op.drop_table('epsilon_ledger')
