"""an index of the analysis runs by person and start, for the person's latest runs that each run's
audit compares its queries with (decision 0031d)

Revision ID: 0018n
Revises: 0018m
Create Date: 2026-12-03
"""

from alembic import op

revision = '0018n'
down_revision = '0018m'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_analysis_runs_user_started', 'analysis_runs', ['user_id', 'started_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_analysis_runs_user_started', table_name='analysis_runs')
