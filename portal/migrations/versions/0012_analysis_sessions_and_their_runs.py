"""analysis sessions and their runs

Revision ID: 0012
Revises: 0014
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('analysis_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('datasets', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('state', sa.JSON(), nullable=True),
    sa.Column('next_index', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=40), nullable=True),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_analysis_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analysis_sessions'))
    )
    with op.batch_alter_table('analysis_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analysis_sessions_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_analysis_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('analysis_session_runs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('audit_run_id', sa.String(length=40), nullable=True),
    sa.Column('cpu_seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['analysis_sessions.id'], name=op.f('fk_analysis_session_runs_session_id_analysis_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analysis_session_runs')),
    sa.UniqueConstraint('session_id', 'index', name=op.f('uq_analysis_session_runs_session_id'))
    )
    with op.batch_alter_table('analysis_session_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analysis_session_runs_finished_at'), ['finished_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_analysis_session_runs_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_analysis_session_runs_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_analysis_session_runs_submitted_at'), ['submitted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_analysis_session_runs_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('analysis_session_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analysis_session_runs_user_id'))
        batch_op.drop_index(batch_op.f('ix_analysis_session_runs_submitted_at'))
        batch_op.drop_index(batch_op.f('ix_analysis_session_runs_status'))
        batch_op.drop_index(batch_op.f('ix_analysis_session_runs_session_id'))
        batch_op.drop_index(batch_op.f('ix_analysis_session_runs_finished_at'))

    op.drop_table('analysis_session_runs')
    with op.batch_alter_table('analysis_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analysis_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_analysis_sessions_status'))

    op.drop_table('analysis_sessions')
