"""audit queries and run flags; released cells shared per dataset version (differencing memory)

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-30

The released-cells table becomes a memory shared by every user of a dataset version (no user,
no day; least-recently-used eviction). Its rows are a cache of differencing control, keyed by
the disclosure key: the upgrade drops the old per-user rows instead of converting them.
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('analysis_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cells_charged', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('flags', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('flagged', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_analysis_runs_flagged'), ['flagged'], unique=False)
    with op.batch_alter_table('analysis_runs', schema=None) as batch_op:
        batch_op.alter_column('cells_charged', server_default=None)
        batch_op.alter_column('flags', server_default=None)
        batch_op.alter_column('flagged', server_default=None)

    op.create_table('analysis_queries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('rule', sa.String(length=60), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('cells_released', sa.Integer(), nullable=False),
    sa.Column('suppressed', sa.JSON(), nullable=False),
    sa.Column('cells_charged', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_runs.id'], name=op.f('fk_analysis_queries_run_id_analysis_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analysis_queries')),
    sa.UniqueConstraint('run_id', 'number', name=op.f('uq_analysis_queries_run_id'))
    )
    with op.batch_alter_table('analysis_queries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analysis_queries_run_id'), ['run_id'], unique=False)

    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        batch_op.drop_index('ix_released_cells_user_day')
    op.drop_table('released_cells')
    _create_released_cells(shared=True)


def downgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        batch_op.drop_index('ix_released_cells_signature_records')
        batch_op.drop_index('ix_released_cells_last_used')
    op.drop_table('released_cells')
    _create_released_cells(shared=False)

    with op.batch_alter_table('analysis_queries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analysis_queries_run_id'))
    op.drop_table('analysis_queries')
    with op.batch_alter_table('analysis_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analysis_runs_flagged'))
        batch_op.drop_column('flagged')
        batch_op.drop_column('flags')
        batch_op.drop_column('cells_charged')


def _create_released_cells(*, shared: bool) -> None:
    common = [
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('signature', sa.String(length=500), nullable=False),
        sa.Column('records', sa.BigInteger(), nullable=False),
        sa.Column('cell_key', sa.String(length=20), nullable=False),
        sa.Column('sketch', sa.JSON(), nullable=False),
        sa.Column('released', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_released_cells')),
    ]
    if shared:
        op.create_table('released_cells', *common,
                        sa.Column('key_fingerprint', sa.String(length=16), nullable=False),
                        sa.Column('created_at', sa.DateTime(), nullable=False),
                        sa.Column('last_used_at', sa.DateTime(), nullable=False))
        with op.batch_alter_table('released_cells', schema=None) as batch_op:
            batch_op.create_index('ix_released_cells_signature_records', ['key_fingerprint', 'signature', 'records'], unique=False)
            batch_op.create_index('ix_released_cells_last_used', ['signature', 'last_used_at'], unique=False)
        return
    op.create_table('released_cells', *common,
                    sa.Column('user_id', sa.Integer(), nullable=False),
                    sa.Column('day', sa.Date(), nullable=False),
                    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_released_cells_user_id_users'), ondelete='CASCADE'))
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        batch_op.create_index('ix_released_cells_user_day', ['user_id', 'day'], unique=False)
